package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/extensions/extinfo"
	"github.com/gosquery/gosquery/internal/table"
)

var osqueryExtensionsSpec = table.Spec{
	Name:        "osquery_extensions",
	Description: "List of active osquery extensions.",
	Columns: []table.Column{
		table.BigInt("uuid"),
		table.Text("name"),
		table.Text("version"),
		table.Text("sdk_version"),
		table.Text("path"),
		table.Text("type"),
	},
	Attributes: table.Utility,
}

type osqueryExtensionsRow struct {
	UUID       int64  `col:"uuid"`
	Name       string `col:"name"`
	Version    string `col:"version"`
	SDKVersion string `col:"sdk_version"`
	Path       string `col:"path"`
	Type       string `col:"type"`
}

func init() { table.Register(osqueryExtensionsSpec, generateOsqueryExtensions) }

// generateOsqueryExtensions lists the core (uuid 0, the manager socket) and
// every registered extension with the socket it serves. Without a running
// extension manager (--disable_extensions, or the shell) the table is empty,
// as osquery's is when it cannot reach the manager.
func generateOsqueryExtensions(ctx context.Context, q *table.Query, emit func(osqueryExtensionsRow)) error {
	l, ok := q.Env.Service(extinfo.Key).(extinfo.Lister)
	if !ok {
		return nil
	}
	for _, e := range l.ExtensionList() {
		emit(osqueryExtensionsRow{UUID: e.UUID, Name: e.Name, Version: e.Version, SDKVersion: e.SDKVersion, Path: e.Path, Type: e.Type})
	}
	return nil
}
