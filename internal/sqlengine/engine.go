// Package sqlengine owns the query engine: an in-memory SQLite connection
// (the only other user of the driver is internal/store, for the on-disk
// state). It attaches every registered table as an eponymous virtual table,
// adds osquery's SQL functions and collations, enforces osquery's authorizer,
// and runs statements for the shell, the scheduler and remote callers.
package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// DB is one SQLite connection with the registry's tables attached. A DB is
// safe for concurrent use; statements run one at a time.
type DB struct {
	mu       sync.Mutex
	conn     *sqlite3.Conn
	env      *table.Env
	attached map[string]bool
	gen      uint64
	// lastTables records the tables the last statement scanned, so callers
	// can tell event-based queries apart (the scheduler does).
	lastTables map[string]bool
}

// Open creates an in-memory database with every table of env.Tables
// attached and osquery's functions registered.
func Open(env *table.Env) (*DB, error) {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db := &DB{conn: conn, env: env, attached: map[string]bool{}}
	if err := db.init(); err != nil {
		conn.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) init() error {
	// SQLite's compile-time limit is 32766 host parameters; osquery raises it
	// to 250000 so huge IN lists work. Raising a limit at run time is capped
	// by the compile-time maximum, so this only documents intent.
	db.conn.Limit(sqlite3.LIMIT_VARIABLE_NUMBER, 250000)
	if err := registerFunctions(db.conn, db.env); err != nil {
		return fmt.Errorf("register SQL functions: %w", err)
	}
	if err := registerCollations(db.conn); err != nil {
		return fmt.Errorf("register collations: %w", err)
	}
	if err := db.attachAll(); err != nil {
		return err
	}
	return db.conn.SetAuthorizer(db.authorize)
}

// Close releases the connection.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.conn.Close()
}

// Env returns the environment tables run in.
func (db *DB) Env() *table.Env { return db.env }

// tableEnabled applies --disable_tables and --enable_tables as osquery does:
// a table is attached if it is not disabled and, when an enable list is
// given, it is on it.
func (db *DB) tableEnabled(name string) bool {
	if db.env.Flags == nil {
		return true
	}
	if slices.Contains(splitList(db.env.Flags.Get("disable_tables")), name) {
		return false
	}
	enabled := splitList(db.env.Flags.Get("enable_tables"))
	return len(enabled) == 0 || slices.Contains(enabled, name)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// attachAll creates a module for each registered table not yet attached.
// Modules are eponymous-only: the table exists under its own name in every
// schema, and CREATE VIRTUAL TABLE cannot make copies of it.
func (db *DB) attachAll() error {
	reg := db.env.Tables
	db.gen = reg.Generation()
	for _, def := range reg.All() {
		name := def.Spec.Name
		if db.attached[name] || !db.tableEnabled(name) {
			continue
		}
		if err := sqlite3.CreateModule(db.conn, name, nil, db.connector(name)); err != nil {
			return fmt.Errorf("attach table %s: %w", name, err)
		}
		db.attached[name] = true
	}
	return nil
}

// refresh attaches tables registered since the last statement (extension
// tables). A removed table keeps its module, whose connector then fails, so
// the name reads as missing.
func (db *DB) refresh() error {
	if db.env.Tables.Generation() == db.gen {
		return nil
	}
	return db.attachAll()
}

// Kind is the storage class of a result value.
type Kind uint8

// Result value kinds (SQLite's storage classes).
const (
	Null Kind = iota
	Integer
	Float
	Text
	Blob
)

// Value is one result cell.
type Value struct {
	Kind Kind
	Int  int64
	// Str holds TEXT and BLOB content and, for FLOAT, SQLite's own rendering
	// of the number, which is what osquery prints.
	Str   string
	Float float64
}

// String renders the value as osquery's shell and logs show it; NULL is "".
func (v Value) String() string {
	switch v.Kind {
	case Integer:
		return fmt.Sprint(v.Int)
	case Float, Text, Blob:
		return v.Str
	}
	return ""
}

// Result is the outcome of one statement.
type Result struct {
	Columns []string
	// DeclTypes holds each column's declared type ("" for expressions).
	DeclTypes []string
	Rows      [][]Value
	// Tables names the tables the statement scanned.
	Tables []string
}

// Error is a failed statement: SQLite's primary result code and message.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func wrapError(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		msg := se.Error()
		// The driver prefixes "sqlite3: <code text>: "; osquery prints only
		// SQLite's message.
		prefix := sqlite3.ErrorCode(se.Code()).Error()
		msg = strings.TrimPrefix(msg, prefix)
		msg = strings.TrimPrefix(msg, ": ")
		if msg == "" {
			msg = strings.TrimPrefix(prefix, "sqlite3: ")
		}
		return &Error{Code: int(se.Code()), Msg: msg}
	}
	var code sqlite3.ErrorCode
	if errors.As(err, &code) {
		return &Error{Code: int(code), Msg: strings.TrimPrefix(code.Error(), "sqlite3: ")}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: int(sqlite3.INTERRUPT), Msg: "interrupted"}
	}
	return &Error{Code: int(sqlite3.ERROR), Msg: err.Error()}
}

// Run executes every statement in sql in order and hands each statement's
// result to fn. It stops at the first error.
func (db *DB) Run(ctx context.Context, sql string, fn func(*Result) error) error {
	return db.eachStatement(ctx, sql, func(stmt *sqlite3.Stmt) error {
		res, err := db.step(stmt)
		if err != nil {
			return err
		}
		return fn(res)
	})
}

// eachStatement prepares and hands over every statement of sql in order,
// under the connection's lock and with ctx as its interrupt (ctx also
// reaches the table generators). It stops at the first error.
func (db *DB) eachStatement(ctx context.Context, sql string, fn func(*sqlite3.Stmt) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.refresh(); err != nil {
		return err
	}
	old := db.conn.SetInterrupt(ctx)
	defer db.conn.SetInterrupt(old)
	for {
		stmt, tail, err := db.conn.Prepare(sql)
		if err != nil {
			return wrapError(err)
		}
		if stmt == nil {
			// Only whitespace or comments were left.
			if strings.TrimSpace(tail) == "" || tail == sql {
				return nil
			}
			sql = tail
			continue
		}
		err = fn(stmt)
		stmt.Close()
		if err != nil {
			return err
		}
		if strings.TrimSpace(tail) == "" {
			return nil
		}
		sql = tail
	}
}

// Query runs sql and returns the last statement's result.
func (db *DB) Query(ctx context.Context, sql string) (*Result, error) {
	var last *Result
	err := db.Run(ctx, sql, func(r *Result) error { last = r; return nil })
	if err != nil {
		return nil, err
	}
	if last == nil {
		last = &Result{}
	}
	return last, nil
}

func (db *DB) step(stmt *sqlite3.Stmt) (*Result, error) {
	db.lastTables = map[string]bool{}
	n := stmt.ColumnCount()
	res := &Result{Columns: make([]string, n), DeclTypes: make([]string, n)}
	for i := range n {
		res.Columns[i] = stmt.ColumnName(i)
		res.DeclTypes[i] = stmt.ColumnDeclType(i)
	}
	for stmt.Step() {
		row := make([]Value, n)
		readRow(stmt, row)
		res.Rows = append(res.Rows, row)
	}
	if err := stmt.Err(); err != nil {
		return nil, wrapError(err)
	}
	for t := range db.lastTables {
		res.Tables = append(res.Tables, t)
	}
	slices.Sort(res.Tables)
	return res, nil
}

// ColumnInfo is a result column's name and declared type, as
// getQueryColumns reports it.
type ColumnInfo struct {
	Name string
	Type string
}

// Columns prepares sql without running it and reports its result columns.
// Expressions have no declared type and report "UNKNOWN", as osquery does.
func (db *DB) Columns(ctx context.Context, sql string) ([]ColumnInfo, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.refresh(); err != nil {
		return nil, err
	}
	old := db.conn.SetInterrupt(ctx)
	defer db.conn.SetInterrupt(old)
	stmt, _, err := db.conn.Prepare(sql)
	if err != nil {
		return nil, wrapError(err)
	}
	if stmt == nil {
		return nil, nil
	}
	defer stmt.Close()
	out := make([]ColumnInfo, stmt.ColumnCount())
	for i := range out {
		t := stmt.ColumnDeclType(i)
		if t == "" {
			t = "UNKNOWN"
		}
		out[i] = ColumnInfo{Name: stmt.ColumnName(i), Type: t}
	}
	return out, nil
}

var (
	versionOnce sync.Once
	version     string
)

// Version returns the SQLite library version, for .version and .show.
func Version() string {
	versionOnce.Do(func() {
		conn, err := sqlite3.Open(":memory:")
		if err != nil {
			return
		}
		defer conn.Close()
		stmt, _, err := conn.Prepare("select sqlite_version()")
		if err != nil {
			return
		}
		defer stmt.Close()
		if stmt.Step() {
			version = stmt.ColumnText(0)
		}
	})
	return version
}
