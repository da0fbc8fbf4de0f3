// Package extensions is osquery's extension API for gosquery: the
// ExtensionManager the core serves on --extensions_socket (Thrift, binary
// protocol over a unix socket, osquery's wire contract in osquery.thrift),
// extension tables and logger/config plugins routed to the extensions that
// register them, health checks, autoloading, and the client osqueryi uses
// for --connect.
//
// The Thrift code in gen/ is generated from osquery.thrift; see
// gen/README.md.
package extensions

//go:generate thrift -out gen --gen go:package_prefix=github.com/gosquery/gosquery/internal/extensions/gen/,thrift_import=github.com/apache/thrift/lib/go/thrift,skip_remote osquery.thrift
