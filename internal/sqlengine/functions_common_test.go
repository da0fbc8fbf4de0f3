package sqlengine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
)

// fnLogs collects what functions log (community_id_v1 warnings).
type fnLogs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *fnLogs) Enabled(context.Context, slog.Level) bool { return true }
func (l *fnLogs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *fnLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *fnLogs) WithGroup(string) slog.Handler      { return l }

func (l *fnLogs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// fnEnv is an Env with osquery's flags and no tables.
func fnEnv(logs *fnLogs) *table.Env {
	return table.HostEnv(flags.Standard(), table.NewRegistry(), slog.New(logs))
}

// fnTestDB opens a database through the engine's real Open, so functions
// are exercised exactly as queries see them.
func fnTestDB(t testing.TB) (*DB, *fnLogs) {
	t.Helper()
	logs := &fnLogs{}
	db, err := Open(fnEnv(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, logs
}

// fnNull and fnErr are expectations for fnCase.want besides plain values.
type fnNullT struct{}

var fnNull = fnNullT{}

// fnErr expects the statement to fail with exactly this message.
type fnErr string

// fnCase is one SELECT of a single expression and its expected result:
// string (TEXT), int (INTEGER), float64 (REAL), fnNull or fnErr.
type fnCase struct {
	sql  string
	want any
}

func fnCheck(t *testing.T, db *DB, cases []fnCase) {
	t.Helper()
	for _, c := range cases {
		sql := c.sql
		if !strings.HasPrefix(strings.ToLower(sql), "select") {
			sql = "select " + sql
		}
		res, err := db.Query(context.Background(), sql)
		if e, ok := c.want.(fnErr); ok {
			if err == nil {
				t.Errorf("%s: want error %q, got %v", sql, string(e), fnShow(res))
			} else if err.Error() != string(e) {
				t.Errorf("%s: want error %q, got %q", sql, string(e), err.Error())
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
			t.Errorf("%s: want one value, got %v", sql, fnShow(res))
			continue
		}
		got := res.Rows[0][0]
		if !fnMatches(got, c.want) {
			t.Errorf("%s: got %s, want %#v", sql, fnShowValue(got), c.want)
		}
	}
}

func fnMatches(v Value, want any) bool {
	switch w := want.(type) {
	case fnNullT:
		return v.Kind == Null
	case string:
		return v.Kind == Text && v.Str == w
	case int:
		return v.Kind == Integer && v.Int == int64(w)
	case int64:
		return v.Kind == Integer && v.Int == w
	case float64:
		return v.Kind == Float && v.Float == w
	}
	return false
}

func fnShowValue(v Value) string {
	switch v.Kind {
	case Null:
		return "NULL"
	case Integer:
		return fmt.Sprintf("INTEGER %d", v.Int)
	case Float:
		return fmt.Sprintf("REAL %s", v.Str)
	case Text:
		return fmt.Sprintf("TEXT %q", v.Str)
	}
	return fmt.Sprintf("BLOB %q", v.Str)
}

func fnShow(res *Result) string {
	if res == nil {
		return "<nil>"
	}
	var rows []string
	for _, r := range res.Rows {
		var cells []string
		for _, v := range r {
			cells = append(cells, fnShowValue(v))
		}
		rows = append(rows, "["+strings.Join(cells, ", ")+"]")
	}
	return strings.Join(rows, " ")
}

// fnOne runs a one-value query and returns the value.
func fnOne(t testing.TB, db *DB, sql string) Value {
	t.Helper()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %s", sql, fnShow(res))
	}
	return res.Rows[0][0]
}

// fnQuote renders s as an SQL string literal.
func fnQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func TestFunctionsRegistered(t *testing.T) {
	db, _ := fnTestDB(t)
	want := []string{
		"split", "regex_split", "regex_match", "concat", "concat_ws", "inet_aton",
		"md5", "sha1", "sha256", "community_id_v1", "community_id_v1_strict",
		"to_base64", "from_base64", "conditional_to_base64", "in_cidr_block",
		"version_compare", "parent_directory", "find_file_path_in_cmd",
		"is_path_deterministic", "sleep",
		"sqrt", "acos", "asin", "atan", "cos", "sin", "tan", "cot", "exp", "log",
		"log10", "power", "ceil", "floor", "degrees", "radians", "pi",
	}
	res, err := db.Query(context.Background(), "select distinct name from pragma_function_list")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range res.Rows {
		have[r[0].Str] = true
	}
	for _, name := range want {
		if !have[name] {
			t.Errorf("function %s is not registered", name)
		}
	}
	res, err = db.Query(context.Background(), "select name from pragma_collation_list")
	if err != nil {
		t.Fatal(err)
	}
	have = map[string]bool{}
	for _, r := range res.Rows {
		have[r[0].Str] = true
	}
	for _, name := range []string{"version", "version_arch", "version_dpkg", "version_rhel"} {
		if !have[name] {
			t.Errorf("collation %s is not registered", name)
		}
	}
}

// TestFunctionFlags checks that pure functions are usable where SQLite
// demands determinism (an index on an expression) and that sleep is not.
func TestFunctionFlags(t *testing.T) {
	db, _ := fnTestDB(t)
	res, err := db.Query(context.Background(),
		"select name, narg, flags from pragma_function_list where name in ('split', 'sleep', 'find_file_path_in_cmd', 'md5')")
	if err != nil {
		t.Fatal(err)
	}
	const deterministic, innocuous = 0x800, 0x200000
	for _, r := range res.Rows {
		name, fl := r[0].Str, r[2].Int
		isPure := fl&deterministic != 0 && fl&innocuous != 0
		wantPure := name == "split" || name == "md5"
		if isPure != wantPure {
			t.Errorf("%s/%d flags %#x: pure=%v, want %v", name, r[1].Int, fl, isPure, wantPure)
		}
	}
}

// TestFunctionsWrongArgumentCount: SQLite rejects calls that match no
// registration before any function code runs.
func TestFunctionsWrongArgumentCount(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		{"split('a')", fnErr("wrong number of arguments to function split()")},
		{"regex_match('a', 'b')", fnErr("wrong number of arguments to function regex_match()")},
		{"md5()", fnErr("wrong number of arguments to function md5()")},
		{"community_id_v1('1.2.3.4')", fnErr("wrong number of arguments to function community_id_v1()")},
		{"in_cidr_block('10.0.0.0/8')", fnErr("wrong number of arguments to function in_cidr_block()")},
		{"sleep()", fnErr("wrong number of arguments to function sleep()")},
		{"cot(1, 2)", fnErr("wrong number of arguments to function cot()")},
	})
}

// TestFunctionPanicBecomesError: a bug in a function fails the statement,
// not the agent, and the connection stays usable.
func TestFunctionPanicBecomesError(t *testing.T) {
	db, _ := fnTestDB(t)
	err := db.conn.CreateFunction("fn_test_panic", 1, 0, guardFunction("fn_test_panic", func(ctx sqlite3.Context, args ...sqlite3.Value) {
		var m map[string]int
		m[args[0].Text()]++
	}))
	if err != nil {
		t.Fatal(err)
	}
	err = db.conn.CreateCollation("fn_test_panic", guardCollation(func(a, b []byte) int { return int(a[len(a)]) }))
	if err != nil {
		t.Fatal(err)
	}
	fnCheck(t, db, []fnCase{
		{"fn_test_panic('x')", fnErr("fn_test_panic: internal error: assignment to entry in nil map")},
		{"'a' = 'b' collate fn_test_panic", 1},
		{"split('a b', ' ', 1)", "b"},
	})
}
