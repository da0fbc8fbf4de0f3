package sqlengine

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// allowedActions is osquery's authorizer allow-list (osquery/sql/sqlite_util.h).
// ATTACH is never allowed: it can write arbitrary files. INSERT, UPDATE and
// DELETE pass the authorizer because extension tables may be writable; core
// tables refuse writes themselves ("table X may not be modified").
var allowedActions = map[sqlite3.AuthorizerActionCode]bool{
	sqlite3.AUTH_READ:              true,
	sqlite3.AUTH_SELECT:            true,
	sqlite3.AUTH_INSERT:            true,
	sqlite3.AUTH_UPDATE:            true,
	sqlite3.AUTH_DELETE:            true,
	sqlite3.AUTH_CREATE_VTABLE:     true,
	sqlite3.AUTH_DROP_VTABLE:       true,
	sqlite3.AUTH_CREATE_VIEW:       true,
	sqlite3.AUTH_DROP_VIEW:         true,
	sqlite3.AUTH_CREATE_TABLE:      true,
	sqlite3.AUTH_DROP_TABLE:        true,
	sqlite3.AUTH_CREATE_TEMP_TABLE: true,
	sqlite3.AUTH_DROP_TEMP_TABLE:   true,
	sqlite3.AUTH_CREATE_TEMP_VIEW:  true,
	sqlite3.AUTH_DROP_TEMP_VIEW:    true,
	sqlite3.AUTH_FUNCTION:          true,
	sqlite3.AUTH_RECURSIVE:         true,
	sqlite3.AUTH_TRANSACTION:       true,
}

// allowedPragmas are the only pragmas osquery lets a query run.
var allowedPragmas = map[string]bool{
	"table_info":          true,
	"table_xinfo":         true,
	"function_list":       true,
	"journal_mode":        true,
	"case_sensitive_like": true,
	"collation_list":      true,
}

func (db *DB) authorize(action sqlite3.AuthorizerActionCode, arg3, arg4, schema, inner string) sqlite3.AuthorizerReturnCode {
	if allowedActions[action] {
		return sqlite3.AUTH_OK
	}
	if action == sqlite3.AUTH_PRAGMA && allowedPragmas[arg3] {
		return sqlite3.AUTH_OK
	}
	db.env.Log.Error(fmt.Sprintf("Authorizer denied action %d %s %s %s %s", action, orNull(arg3), orNull(arg4), orNull(schema), orNull(inner)))
	return sqlite3.AUTH_DENY
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}
