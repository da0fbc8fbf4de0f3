package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
)

// recorder remembers what each generation of the test tables was asked.
type recorder struct {
	mu      sync.Mutex
	queries []*table.Query
	emitted int
	logs    []string
}

func (r *recorder) record(q *table.Query) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.mu.Unlock()
}

type numRow struct {
	N      int64  `col:"n"`
	Square int64  `col:"square"`
	Name   string `col:"name"`
	Secret string `col:"secret"`
}

type pathRow struct {
	Path string `col:"path"`
	Dir  string `col:"directory"`
	Size int64  `col:"size"`
}

type logHandler struct{ r *recorder }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) Handle(_ context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.logs = append(h.r.logs, rec.Level.String()+" "+rec.Message)
	h.r.mu.Unlock()
	return nil
}
func (h logHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logHandler) WithGroup(string) slog.Handler      { return h }

func testDB(t *testing.T) (*DB, *recorder) {
	t.Helper()
	rec := &recorder{}
	reg := table.NewRegistry()
	nums, err := table.New(table.Spec{
		Name: "nums",
		Columns: []table.Column{
			table.BigInt("n").Index().Optimized(),
			table.BigInt("square"),
			table.Text("name").Additional(),
			table.Text("secret").Hidden(),
		},
	}, func(ctx context.Context, q *table.Query, emit func(numRow)) error {
		rec.record(q)
		want := q.EqualsInt("n")
		for i := int64(1); i <= 1000; i++ {
			if ctx.Err() != nil {
				return nil
			}
			if len(want) > 0 && !slices.Contains(want, i) {
				continue
			}
			rec.mu.Lock()
			rec.emitted++
			rec.mu.Unlock()
			emit(numRow{N: i, Square: i * i, Name: fmt.Sprint("n", i), Secret: "s"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := table.New(table.Spec{
		Name: "paths",
		Columns: []table.Column{
			table.Text("path").Index().Required(),
			table.Text("directory").Required(),
			table.BigInt("size"),
		},
	}, func(ctx context.Context, q *table.Query, emit func(pathRow)) error {
		rec.record(q)
		for _, p := range q.Equals("path") {
			emit(pathRow{Path: p, Size: int64(len(p))})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom, err := table.New(table.Spec{
		Name:    "boom",
		Columns: []table.Column{table.Integer("x")},
	}, func(ctx context.Context, q *table.Query, emit func(struct {
		X int `col:"x"`
	})) error {
		if q.Used("x") {
			panic("table bug")
		}
		return errors.New("should not get here")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*table.Def{nums, paths, boom} {
		if err := reg.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	env := table.HostEnv(flags.Standard(), reg, slog.New(logHandler{rec}))
	db, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, rec
}

func query(t *testing.T, db *DB, sql string) *Result {
	t.Helper()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}

func TestSelectStarHidesHiddenColumns(t *testing.T) {
	db, _ := testDB(t)
	res := query(t, db, "select * from nums where n = 3")
	if got := strings.Join(res.Columns, ","); got != "n,square,name" {
		t.Fatalf("columns %s", got)
	}
	if len(res.Rows) != 1 || res.Rows[0][1].Int != 9 || res.Rows[0][2].Str != "n3" {
		t.Fatalf("rows %v", res.Rows)
	}
	res = query(t, db, "select secret from nums where n = 3")
	if res.Rows[0][0].Str != "s" {
		t.Fatalf("hidden column by name: %v", res.Rows)
	}
}

func TestEqualityAndINPushdown(t *testing.T) {
	db, rec := testDB(t)
	query(t, db, "select n from nums where n in (5, 7, 9) order by n")
	if len(rec.queries) != 1 {
		t.Fatalf("IN list should reach the table in one generation, got %d", len(rec.queries))
	}
	got := rec.queries[0].EqualsInt("n")
	if !slices.Equal(got, []int64{5, 7, 9}) {
		t.Fatalf("IN values %v", got)
	}
	if rec.emitted != 3 {
		t.Fatalf("table should have generated 3 rows, generated %d", rec.emitted)
	}
}

func TestSQLiteRechecksConstraints(t *testing.T) {
	db, rec := testDB(t)
	// The table ignores LIKE on name; SQLite must still filter.
	res := query(t, db, "select n from nums where name like 'n99_'")
	if len(res.Rows) != 10 {
		t.Fatalf("LIKE re-check: got %d rows", len(res.Rows))
	}
	cs := rec.queries[0].Constraints("name")
	if len(cs) != 1 || cs[0].Op != table.OpLike || cs[0].Expr != "n99_" {
		t.Fatalf("LIKE constraint on additional column not pushed: %+v", cs)
	}
	// An IN list the table ignores is still applied by SQLite.
	rec.queries = nil
	res = query(t, db, "select n from nums where name in ('n1', 'n2', 'nope')")
	if len(res.Rows) != 2 {
		t.Fatalf("IN re-check: got %d rows", len(res.Rows))
	}
	if got := rec.queries[0].Equals("name"); !slices.Equal(got, []string{"n1", "n2", "nope"}) {
		t.Fatalf("IN values on additional column: %v", got)
	}
	// Range on a BIGINT index column is pushed; on TEXT it is not.
	rec.queries = nil
	query(t, db, "select n from nums where n > 990 and name > 'a'")
	if cs := rec.queries[0].Constraints("n"); len(cs) != 1 || cs[0].Op != table.OpGt || cs[0].Expr != "990" {
		t.Fatalf("range on integer not pushed: %+v", cs)
	}
	if rec.queries[0].Has("name") {
		t.Fatal("range on TEXT column must not be pushed")
	}
	// Non-indexed columns are never pushed.
	rec.queries = nil
	query(t, db, "select n from nums where square = 4")
	if rec.queries[0].Has("square") {
		t.Fatal("constraint on plain column was pushed")
	}
}

func TestUsedColumnsReachTable(t *testing.T) {
	db, rec := testDB(t)
	query(t, db, "select square from nums where n = 1")
	q := rec.queries[0]
	if !q.Used("square") || !q.Used("n") || q.Used("name") || q.Used("secret") {
		t.Fatalf("used mask %b", q.UsedMask())
	}
}

// Index columns are not unique keys (process_envs has a row per variable
// of a pid): DISTINCT must still apply.
func TestDistinctOnIndexColumn(t *testing.T) {
	reg := table.NewRegistry()
	d, err := table.New(table.Spec{
		Name:    "dups",
		Columns: []table.Column{table.BigInt("k").Index(), table.Text("v")},
	}, func(ctx context.Context, q *table.Query, emit func(struct {
		K int64  `col:"k"`
		V string `col:"v"`
	})) error {
		for _, v := range []string{"a", "b", "c"} {
			emit(struct {
				K int64  `col:"k"`
				V string `col:"v"`
			}{K: 1, V: v})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(d)
	db, err := Open(table.HostEnv(flags.Standard(), reg, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for sql, want := range map[string]int{
		"select distinct k from dups":             1,
		"select k from dups group by k":           1,
		"select distinct k from dups where k = 1": 1,
		"select k from dups where k = 1":          3,
	} {
		if res := query(t, db, sql); len(res.Rows) != want {
			t.Errorf("%s: %d rows, want %d", sql, len(res.Rows), want)
		}
	}
}

// An OR of pushed constraints runs one scan per branch and merges them by
// rowid; rows of different scans must not collide.
func TestORBranchesMerge(t *testing.T) {
	db, rec := testDB(t)
	res := query(t, db, "select n from nums where n = 3 or n = 5 or name = 'n7' order by n")
	if len(res.Rows) != 3 || res.Rows[0][0].Int != 3 || res.Rows[2][0].Int != 7 {
		t.Fatalf("OR rows %v", res.Rows)
	}
	if len(rec.queries) != 3 {
		t.Fatalf("want one scan per OR branch, got %d", len(rec.queries))
	}
}

func TestLimitStopsGeneration(t *testing.T) {
	db, rec := testDB(t)
	res := query(t, db, "select n from nums limit 3")
	if len(res.Rows) != 3 {
		t.Fatalf("rows %d", len(res.Rows))
	}
	if rec.emitted > 5 {
		t.Fatalf("generator kept running after LIMIT: %d rows emitted", rec.emitted)
	}
}

func TestRequiredColumn(t *testing.T) {
	db, rec := testDB(t)
	_, err := db.Query(context.Background(), "select * from paths")
	var se *Error
	if !errors.As(err, &se) || se.Code != 19 || se.Msg != "constraint failed" {
		t.Fatalf("want SQLITE_CONSTRAINT, got %v", err)
	}
	if !slices.ContainsFunc(rec.logs, func(s string) bool {
		return strings.Contains(s, "Table paths was queried without a required column in the WHERE clause")
	}) {
		t.Fatalf("missing osquery warning, logs: %v", rec.logs)
	}
	res := query(t, db, "select size from paths where path = '/abc'")
	if len(res.Rows) != 1 || res.Rows[0][0].Int != 4 {
		t.Fatalf("rows %v", res.Rows)
	}
	// A join feeds the required column from another table.
	res = query(t, db, "select p.path, p.size from nums join paths p on p.path = nums.name where nums.n in (1, 22)")
	if len(res.Rows) != 2 || res.Rows[1][0].Str != "n22" {
		t.Fatalf("join rows %v", res.Rows)
	}
}

func TestGeneratorPanicIsAnError(t *testing.T) {
	db, _ := testDB(t)
	_, err := db.Query(context.Background(), "select x from boom")
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("want panic turned into error, got %v", err)
	}
	// The connection is still usable.
	query(t, db, "select 1")
}

func TestAuthorizer(t *testing.T) {
	db, _ := testDB(t)
	for _, sql := range []string{
		"attach database '/tmp/x.db' as x",
		"pragma writable_schema = 1",
	} {
		_, err := db.Query(context.Background(), sql)
		if err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("%s: want not authorized, got %v", sql, err)
		}
	}
	query(t, db, "pragma table_info(nums)")
	_, err := db.Query(context.Background(), "insert into nums(n) values (1)")
	if err == nil || !strings.Contains(err.Error(), "may not be modified") {
		t.Errorf("insert into a core table: %v", err)
	}
	_, err = db.Query(context.Background(), "create virtual table copy using nums")
	if err == nil {
		t.Error("eponymous-only module accepted CREATE VIRTUAL TABLE")
	}
}

func TestErrors(t *testing.T) {
	db, _ := testDB(t)
	for sql, want := range map[string]string{
		"select * from nosuch":    "no such table: nosuch",
		"select nosuch from nums": "no such column: nosuch",
		"selec 1":                 `near "selec": syntax error`,
	} {
		_, err := db.Query(context.Background(), sql)
		if err == nil || err.Error() != want {
			t.Errorf("%s: want %q, got %v", sql, want, err)
		}
	}
}

func TestHugeINList(t *testing.T) {
	db, rec := testDB(t)
	var b strings.Builder
	b.WriteString("select count(*) from nums where n in (")
	for i := 0; i < 30000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, i)
	}
	b.WriteString(")")
	res := query(t, db, b.String())
	if res.Rows[0][0].Int != 1000 {
		t.Fatalf("count %v", res.Rows)
	}
	if len(rec.queries) != 1 {
		t.Fatalf("%d generations", len(rec.queries))
	}
}

func TestComplete(t *testing.T) {
	for sql, want := range map[string]bool{
		"select 1;":                true,
		"select 1":                 false,
		"select ';'":               false,
		"select ';';":              true,
		"select 1; -- done":        true,
		"select 1 /* ; */":         false,
		"select \"a;\" from t; ":   true,
		"select 'it''s;'":          false,
		"select 1; select 2":       false,
		"select 1 /* unterminated": false,
	} {
		if got := Complete(sql); got != want {
			t.Errorf("Complete(%q) = %v", sql, got)
		}
	}
}
