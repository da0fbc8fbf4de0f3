package sqlengine

import (
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// sqlFunction is one registration of a scalar SQL function. nArg -1 makes
// the function variadic; SQLite itself rejects calls whose argument count
// matches no registration ("wrong number of arguments to function x()").
type sqlFunction struct {
	name  string
	nArg  int
	flags sqlite3.FunctionFlag
	fn    sqlite3.ScalarFunction
}

// pure marks functions whose result depends only on their arguments:
// SQLite may factor them out of loops and allows them in views, triggers
// and CHECK constraints of untrusted schemas.
const pure = sqlite3.DETERMINISTIC | sqlite3.INNOCUOUS

// registerFunctions adds osquery's SQL functions to a connection. Each
// functions_*.go file contributes one theme (osquery/sql/sqlite_*.cpp).
func registerFunctions(conn *sqlite3.Conn, env *table.Env) error {
	var all []sqlFunction
	all = append(all, stringFunctions()...)
	all = append(all, regexFunctions(env)...)
	all = append(all, hashFunctions(env)...)
	all = append(all, encodingFunctions()...)
	all = append(all, networkFunctions()...)
	all = append(all, versionFunctions()...)
	all = append(all, filesystemFunctions(env)...)
	all = append(all, mathFunctions()...)
	all = append(all, operationFunctions()...)
	for _, f := range all {
		if err := conn.CreateFunction(f.name, f.nArg, f.flags, guardFunction(f.name, f.fn)); err != nil {
			return fmt.Errorf("function %s/%d: %w", f.name, f.nArg, err)
		}
	}
	if err := registerCarveFunction(conn, env); err != nil {
		return fmt.Errorf("function carve/1: %w", err)
	}
	return nil
}

// registerCollations adds osquery's version collations.
func registerCollations(conn *sqlite3.Conn) error {
	for _, c := range versionCollations() {
		if err := conn.CreateCollation(c.name, guardCollation(c.fn)); err != nil {
			return fmt.Errorf("collation %s: %w", c.name, err)
		}
	}
	return nil
}

// guardFunction turns a panic in a function into an SQL error, so a bug
// in one function fails the statement instead of the agent.
func guardFunction(name string, fn sqlite3.ScalarFunction) sqlite3.ScalarFunction {
	return func(ctx sqlite3.Context, args ...sqlite3.Value) {
		defer func() {
			if r := recover(); r != nil {
				ctx.ResultError(fmt.Errorf("%s: internal error: %v", name, r))
			}
		}()
		fn(ctx, args...)
	}
}

// guardCollation makes a panicking collation compare equal: a collation
// has no way to report an error.
func guardCollation(fn sqlite3.CollatingFunction) sqlite3.CollatingFunction {
	return func(a, b []byte) (n int) {
		defer func() {
			if recover() != nil {
				n = 0
			}
		}()
		return fn(a, b)
	}
}

// sqlError is a function error carrying osquery's exact message.
type sqlError string

func (e sqlError) Error() string { return string(e) }

// anyNull reports whether any argument is SQL NULL.
func anyNull(args []sqlite3.Value) bool {
	for _, a := range args {
		if a.Type() == sqlite3.NULL {
			return true
		}
	}
	return false
}

// argInt32 reads an argument as sqlite3_value_int does: the value's
// integer form truncated to 32 bits. osquery reads indexes and seconds
// this way, so 4294967296 is 0 and 2147483648 is negative.
func argInt32(v sqlite3.Value) int64 {
	return int64(int32(v.Int64()))
}

// cString cuts s at its first NUL byte: osquery handles most arguments as
// C strings, and the C algorithms it uses stop there.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// lengthLimit is the connection's maximum string length; results are
// checked against it before they are built.
func lengthLimit(ctx sqlite3.Context) int {
	return ctx.Conn().Limit(sqlite3.LIMIT_LENGTH, -1)
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
