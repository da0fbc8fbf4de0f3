// Package logger writes osquery's result and status logs: the exact bytes
// of osquery 5's JSON log lines (differential "event" and batch formats,
// snapshots, status lines) and the logger plugins that carry them
// (filesystem with osquery's rotation, stdout), behind one Plugin interface
// that --logger_plugin=a,b fans out to.
//
// The formatting half is pure: a Value per cell with its SQLite storage
// class, rows as ordered column/value pairs, an Envelope with the fields
// every line carries, and functions that append a line to a buffer. It
// follows osquery/core/query.cpp, osquery/core/sql/row.cpp and RapidJSON's
// writer byte for byte, including the quirks worth keeping (RapidJSON's
// RemoveMember reordering when --decorations_top_level decorations reuse a
// reserved key, a REAL 3 logged as "3.0", an empty batch diff logged as a
// snapshot). The only intended difference is that invalid UTF-8 that reaches
// the JSON writer becomes U+FFFD instead of raw bytes, so every line parses.
//
// The plugin half does I/O: each plugin writes a whole line with one write
// call under a mutex, so concurrent writers never interleave, and returns
// write failures, on which the daemon must stop (osquery exits 78).
package logger
