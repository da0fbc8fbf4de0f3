package sqlengine

import (
	"context"

	"github.com/ncruces/go-sqlite3"
)

// Stream runs every statement in sql in order, as Run does, but hands the
// rows over one at a time instead of collecting them, so a large result (a
// distributed query of 100,000 rows) is never held whole as Values: start
// is called with each statement's column names before its rows, row with
// each row. Both slices are reused between calls; the Values' strings may
// be kept. An error from start or row stops the statement and is returned
// as it is, so a caller may stop early with a sentinel. ctx reaches the
// table generators, as with Run.
func (db *DB) Stream(ctx context.Context, sql string, start func(columns []string) error, row func([]Value) error) error {
	return db.eachStatement(ctx, sql, func(stmt *sqlite3.Stmt) error { return db.streamStmt(stmt, start, row) })
}

func (db *DB) streamStmt(stmt *sqlite3.Stmt, start func([]string) error, row func([]Value) error) error {
	db.lastTables = map[string]bool{}
	n := stmt.ColumnCount()
	cols := make([]string, n)
	for i := range n {
		cols[i] = stmt.ColumnName(i)
	}
	if err := start(cols); err != nil {
		return err
	}
	vals := make([]Value, n)
	for stmt.Step() {
		readRow(stmt, vals)
		if err := row(vals); err != nil {
			return err
		}
	}
	return wrapError(stmt.Err())
}

// readRow reads the current row of stmt into vals.
func readRow(stmt *sqlite3.Stmt, vals []Value) {
	for i := range vals {
		switch stmt.ColumnType(i) {
		case sqlite3.INTEGER:
			vals[i] = Value{Kind: Integer, Int: stmt.ColumnInt64(i)}
		case sqlite3.FLOAT:
			vals[i] = Value{Kind: Float, Float: stmt.ColumnFloat(i), Str: stmt.ColumnText(i)}
		case sqlite3.TEXT:
			vals[i] = Value{Kind: Text, Str: stmt.ColumnText(i)}
		case sqlite3.BLOB:
			vals[i] = Value{Kind: Blob, Str: string(stmt.ColumnRawBlob(i))}
		default:
			vals[i] = Value{Kind: Null}
		}
	}
}
