// Package utility holds osquery's own helper tables: time, file, hash and
// the osquery_* introspection tables.
package utility
