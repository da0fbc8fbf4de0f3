// Package tabletest runs SQL against registered tables in tests, through the
// real SQLite engine, and returns rows as strings the way osquery prints them.
package tabletest

import (
	"context"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
)

// Null is how a NULL cell appears in the maps Query returns, so tests can
// tell NULL from an empty string.
const Null = "<NULL>"

// HostEnv returns an environment over the live host with the Default
// registry and standard flags.
func HostEnv(t testing.TB) *table.Env {
	t.Helper()
	return table.HostEnv(flags.Standard(), table.Default, nil)
}

// Query runs sql on env and returns its rows as column -> text maps.
func Query(t testing.TB, env *table.Env, sql string) []map[string]string {
	t.Helper()
	rows, err := TryQuery(env, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

// TryQuery is Query that returns the error instead of failing the test.
func TryQuery(env *table.Env, sql string) ([]map[string]string, error) {
	db, err := sqlengine.Open(env)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		m := make(map[string]string, len(r))
		for i, v := range r {
			if v.Kind == sqlengine.Null {
				m[res.Columns[i]] = Null
			} else {
				m[res.Columns[i]] = v.String()
			}
		}
		out = append(out, m)
	}
	return out, nil
}
