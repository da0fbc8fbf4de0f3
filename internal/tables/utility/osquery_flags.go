package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/table"
)

var osqueryFlagsSpec = table.Spec{
	Name:        "osquery_flags",
	Description: "Configurable flags that modify osquery's behavior.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("type"),
		table.Text("description"),
		table.Text("default_value"),
		table.Text("value"),
		table.Integer("shell_only"),
	},
	Attributes: table.Utility,
}

type osqueryFlagsRow struct {
	Name         string `col:"name"`
	Type         string `col:"type"`
	Description  string `col:"description"`
	DefaultValue string `col:"default_value"`
	Value        string `col:"value"`
	ShellOnly    bool   `col:"shell_only"`
}

func init() { table.Register(osqueryFlagsSpec, generateOsqueryFlags) }

// generateOsqueryFlags lists every flag with its current value, including
// values the config's "options" set.
func generateOsqueryFlags(ctx context.Context, q *table.Query, emit func(osqueryFlagsRow)) error {
	for _, f := range q.Env.Flags.All() {
		emit(osqueryFlagsRow{
			Name:         f.Name,
			Type:         string(f.Type),
			Description:  f.Description,
			DefaultValue: f.Default,
			Value:        f.Value,
			ShellOnly:    f.ShellOnly,
		})
	}
	return nil
}
