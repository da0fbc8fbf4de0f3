package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/table"
)

var osqueryRegistrySpec = table.Spec{
	Name:        "osquery_registry",
	Description: "List the osquery registry plugins.",
	Columns: []table.Column{
		table.Text("registry"),
		table.Text("name"),
		table.Integer("owner_uuid"),
		table.Integer("internal"),
		table.Integer("active"),
	},
	Attributes: table.Utility,
}

type osqueryRegistryRow struct {
	Registry  string `col:"registry"`
	Name      string `col:"name"`
	OwnerUUID int64  `col:"owner_uuid"`
	Internal  bool   `col:"internal"`
	Active    bool   `col:"active"`
}

func init() { table.Register(osqueryRegistrySpec, generateOsqueryRegistry) }

// generateOsqueryRegistry lists every table, then the other plugins the
// running program reports (config, logger, database, ...). owner_uuid is 0
// for core plugins and the extension's uuid for extension ones.
func generateOsqueryRegistry(ctx context.Context, q *table.Query, emit func(osqueryRegistryRow)) error {
	for _, d := range q.Env.Tables.All() {
		emit(osqueryRegistryRow{Registry: "table", Name: d.Spec.Name, OwnerUUID: int64(d.Owner), Active: true})
	}
	if q.Env.Runtime.Plugins == nil {
		return nil
	}
	for _, p := range q.Env.Runtime.Plugins() {
		emit(osqueryRegistryRow{Registry: p.Registry, Name: p.Name, OwnerUUID: int64(p.Owner), Internal: p.Internal, Active: p.Active})
	}
	return nil
}
