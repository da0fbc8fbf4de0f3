// Package extinfo is the small contract between the extension manager and
// the osquery_extensions table, kept apart so the table does not depend on
// the manager (and its Thrift code).
package extinfo

// Info is one row of osquery_extensions.
type Info struct {
	UUID       int64
	Name       string
	Version    string
	SDKVersion string
	// Path is the socket the extension (or, for uuid 0, the core) serves.
	Path string
	// Type is "core" or "extension".
	Type string
}

// Lister reports the core and the registered extensions.
type Lister interface {
	ExtensionList() []Info
}

type key struct{}

// Key is the table.Env service key under which the manager is stored.
var Key = key{}
