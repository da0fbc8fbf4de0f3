package sqlengine

import (
	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// registerFunctions adds osquery's SQL functions to a connection.
func registerFunctions(conn *sqlite3.Conn, env *table.Env) error {
	return nil
}

// registerCollations adds osquery's version collations.
func registerCollations(conn *sqlite3.Conn) error {
	return nil
}
