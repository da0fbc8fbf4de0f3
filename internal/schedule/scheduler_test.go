package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// memLogger collects lines.
type memLogger struct {
	mu        sync.Mutex
	results   []string
	snapshots []string
	fail      bool
}

func (m *memLogger) Name() string { return "mem" }
func (m *memLogger) LogResult(_ context.Context, l []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return fmt.Errorf("disk full")
	}
	m.results = append(m.results, string(l))
	return nil
}
func (m *memLogger) LogSnapshot(_ context.Context, l []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snapshots = append(m.snapshots, string(l))
	return nil
}
func (m *memLogger) LogStatus(context.Context, []logging.Status) error { return nil }
func (m *memLogger) Close() error                                      { return nil }

func (m *memLogger) take() []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []map[string]any
	for _, l := range m.results {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	m.results = nil
	return out
}

// rowsTable is a table whose rows the test sets.
type rowsTable struct {
	mu   sync.Mutex
	rows []kv
}

type kv struct {
	K string `col:"k"`
	V int64  `col:"v"`
}

func (r *rowsTable) set(rows ...kv) { r.mu.Lock(); r.rows = rows; r.mu.Unlock() }

type fixture struct {
	sched *Scheduler
	log   *memLogger
	st    *store.DB
	data  *rowsTable
	fl    *flags.Set
	db    *sqlengine.DB
}

func newFixture(t *testing.T, dbPath string, schedule string) *fixture {
	t.Helper()
	data := &rowsTable{}
	reg := table.NewRegistry()
	d, err := table.New(table.Spec{Name: "things", Columns: []table.Column{table.Text("k"), table.BigInt("v")}},
		func(ctx context.Context, q *table.Query, emit func(kv)) error {
			data.mu.Lock()
			rows := append([]kv(nil), data.rows...)
			data.mu.Unlock()
			for _, r := range rows {
				emit(r)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(d)
	fl := flags.Standard()
	env := table.HostEnv(fl, reg, nil)
	db, err := sqlengine.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &memLogger{}
	s := New(env, db, st, log, func() string { return "host-a" })
	cfg, _, err := config.Parse(map[string][]byte{"test": []byte(schedule)}, config.OptionsFromFlags(fl))
	if err != nil {
		t.Fatal(err)
	}
	s.Configure(context.Background(), cfg)
	return &fixture{sched: s, log: log, st: st, data: data, fl: fl, db: db}
}

const diffSchedule = `{"schedule": {"things": {"query": "select k, v from things", "interval": 60}}}`

func (f *fixture) run(t *testing.T, name string) []map[string]any {
	t.Helper()
	if err := f.sched.RunQuery(context.Background(), name, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return f.log.take()
}

func actions(lines []map[string]any) string {
	var out []string
	for _, l := range lines {
		cols := l["columns"].(map[string]any)
		out = append(out, fmt.Sprintf("%s:%v=%v@%v", l["action"], cols["k"], cols["v"], l["counter"]))
	}
	return strings.Join(out, " ")
}

func TestDifferentialAcrossRestarts(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "db")
	f := newFixture(t, dbPath, diffSchedule)
	f.data.set(kv{"a", 1}, kv{"b", 2})
	if got := actions(f.run(t, "things")); got != "added:a=1@0 added:b=2@0" {
		t.Fatalf("first run: %s", got)
	}
	// Nothing changed: nothing logged.
	if got := f.run(t, "things"); len(got) != 0 {
		t.Fatalf("unchanged run logged %v", got)
	}
	f.data.set(kv{"a", 1}, kv{"c", 3})
	if got := actions(f.run(t, "things")); got != "removed:b=2@1 added:c=3@1" {
		t.Fatalf("second diff: %s", got)
	}
	f.st.Close()

	// A restart carries on: same state, no spurious "added" of everything.
	f2 := newFixture(t, dbPath, diffSchedule)
	f2.data.set(kv{"a", 1}, kv{"c", 3}, kv{"d", 4})
	if got := actions(f2.run(t, "things")); got != "added:d=4@2" {
		t.Fatalf("after restart: %s", got)
	}
	// A new epoch starts over with counter 0.
	f2.fl.Set("schedule_epoch", "7")
	got := f2.run(t, "things")
	if actions(got) != "added:a=1@0 added:c=3@0 added:d=4@0" || got[0]["epoch"].(float64) != 7 {
		t.Fatalf("new epoch: %s", actions(got))
	}
}

func TestEnvelopeAndDecorations(t *testing.T) {
	f := newFixture(t, "", `{
		"schedule": {"things": {"query": "select k, v from things", "interval": 60}},
		"decorators": {"load": ["select 'L' as load_dec"], "always": ["select 'A' as always_dec"]}
	}`)
	f.data.set(kv{"x\x01y", 5})
	f.fl.Set("logger_numerics", "true")
	lines := f.run(t, "things")
	l := lines[0]
	if l["name"] != "things" || l["hostIdentifier"] != "host-a" || l["calendarTime"] != "Tue Nov 14 22:13:20 2023 UTC" ||
		l["unixTime"].(float64) != 1700000000 || l["numerics"] != true {
		t.Fatalf("envelope %v", l)
	}
	decs := l["decorations"].(map[string]any)
	if decs["load_dec"] != "L" || decs["always_dec"] != "A" {
		t.Fatalf("decorations %v", decs)
	}
	cols := l["columns"].(map[string]any)
	if cols["v"].(float64) != 5 || cols["k"] != `x\x01y` {
		t.Fatalf("numerics/escaping %v", cols)
	}
}

func TestSnapshotAndBatchFormats(t *testing.T) {
	f := newFixture(t, "", `{"schedule": {
		"snap": {"query": "select k from things", "interval": 60, "snapshot": true},
		"things": {"query": "select k, v from things", "interval": 60, "removed": false}}}`)
	f.data.set(kv{"a", 1})
	if err := f.sched.RunQuery(context.Background(), "snap", time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	if len(f.log.snapshots) != 1 || !strings.Contains(f.log.snapshots[0], `"snapshot":[{"k":"a"}],"action":"snapshot"`) {
		t.Fatalf("snapshot %v", f.log.snapshots)
	}
	f.fl.Set("logger_event_type", "false")
	f.run(t, "things")
	f.data.set(kv{"b", 2})
	f.log.take()
	if err := f.sched.RunQuery(context.Background(), "things", time.Unix(1700000060, 0)); err != nil {
		t.Fatal(err)
	}
	f.log.mu.Lock()
	line := f.log.results[0]
	f.log.mu.Unlock()
	if !strings.HasPrefix(line, `{"diffResults":{"removed":[],"added":[{"k":"b","v":"2"}]},"name":"things"`) {
		t.Fatalf("batch line with removed=false: %s", line)
	}
}

func TestLogFailureKeepsLinesForReplay(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "db")
	f := newFixture(t, dbPath, diffSchedule)
	f.data.set(kv{"a", 1})
	f.log.fail = true
	err := f.sched.RunQuery(context.Background(), "things", time.Unix(1700000000, 0))
	var le *LogError
	if err == nil || !errorAs(err, &le) {
		t.Fatalf("want a LogError, got %v", err)
	}
	f.st.Close()
	// At the next start the committed line is logged, once.
	f2 := newFixture(t, dbPath, diffSchedule)
	if err := f2.sched.ReplayPending(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := actions(f2.log.take()); got != "added:a=1@0" {
		t.Fatalf("replayed %s", got)
	}
	f2.data.set(kv{"a", 1})
	if got := f2.run(t, "things"); len(got) != 0 {
		t.Fatalf("the replayed row was diffed again: %v", got)
	}
	// Replay skips lines the logger already has.
	if err := f2.sched.ReplayPending(context.Background(), func([]byte) bool { return true }); err != nil {
		t.Fatal(err)
	}
}

func errorAs(err error, target **LogError) bool {
	for e := err; e != nil; {
		if le, ok := e.(*LogError); ok {
			*target = le
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func TestSplayPersistsAndRespectsPercent(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "db")
	f := newFixture(t, dbPath, `{"schedule": {"q": {"query": "select 1", "interval": 1000}}}`)
	first := f.sched.Queries()[0].SplayedInterval
	if first < 900 || first > 1100 {
		t.Fatalf("splayed %d outside ±10%%", first)
	}
	f.st.Close()
	f2 := newFixture(t, dbPath, `{"schedule": {"q": {"query": "select 1", "interval": 1000}}}`)
	if again := f2.sched.Queries()[0].SplayedInterval; again != first {
		t.Fatalf("splay not kept across restarts: %d then %d", first, again)
	}
}

func TestQueryErrorIsCountedNotLogged(t *testing.T) {
	f := newFixture(t, "", `{"schedule": {"bad": {"query": "select * from nosuch", "interval": 60}}}`)
	if err := f.sched.RunQuery(context.Background(), "bad", time.Now()); err == nil {
		t.Fatal("no error")
	}
	if len(f.log.take()) != 0 {
		t.Fatal("error produced result lines")
	}
	info := f.sched.Queries()[0]
	if info.Errors != 1 || info.Executions != 1 || !strings.Contains(info.LastError, "no such table") {
		t.Fatalf("stats %+v", info.Stats)
	}
}

func TestDiffRowsMultiset(t *testing.T) {
	r := func(k string) logger.Row { return logger.Row{{Name: "k", Value: logger.Text(k)}} }
	d := diffRows([]logger.Row{r("a"), r("a"), r("b")}, []logger.Row{r("a"), r("b"), r("b")})
	if len(d.Added) != 1 || d.Added[0][0].Value.Str != "b" || len(d.Removed) != 1 || d.Removed[0][0].Value.Str != "a" {
		t.Fatalf("multiset diff %+v", d)
	}
	// Column order does not matter.
	x := logger.Row{{Name: "a", Value: logger.Int(1)}, {Name: "b", Value: logger.Text("x")}}
	y := logger.Row{{Name: "b", Value: logger.Text("x")}, {Name: "a", Value: logger.Int(1)}}
	if d := diffRows([]logger.Row{x}, []logger.Row{y}); len(d.Added)+len(d.Removed) != 0 {
		t.Fatalf("reordered columns differ: %+v", d)
	}
	enc := encodeRows([]logger.Row{x, {{Name: "n", Value: logger.Null()}, {Name: "f", Value: logger.Real(0.5)}}})
	back, err := decodeRows(enc)
	if err != nil || len(back) != 2 || back[1][1].Value.Real != 0.5 || back[1][0].Value.Kind != logger.KindNull {
		t.Fatalf("round trip %v %+v", err, back)
	}
	for i := range enc {
		decodeRows(enc[:i]) // truncations never panic
	}
}

func BenchmarkDifferential10k(b *testing.B) {
	prev := make([]logger.Row, 10000)
	cur := make([]logger.Row, 10000)
	for i := range prev {
		prev[i] = logger.Row{{Name: "pid", Value: logger.Int(int64(i))}, {Name: "name", Value: logger.Text(fmt.Sprint("proc-", i))}}
		cur[i] = logger.Row{{Name: "pid", Value: logger.Int(int64(i + 100))}, {Name: "name", Value: logger.Text(fmt.Sprint("proc-", i+100))}}
	}
	b.ReportAllocs()
	for b.Loop() {
		d := diffRows(prev, cur)
		if len(d.Added) != 100 {
			b.Fatal(len(d.Added))
		}
		encodeRows(cur)
	}
}
