package distributed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
	_ "github.com/gosquery/gosquery/internal/tables/all"
)

// logRecorder keeps the runner's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// take returns the lines logged since the last take.
func (l *logRecorder) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

func hasLine(lines []string, level, substr string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, level+" ") && strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// probe tables: distributed_probe shows the request id the generator's ctx
// carries (what a carve started by the query records); distributed_block
// blocks until its ctx ends.
type probeRow struct {
	RequestID string `col:"request_id"`
}

type blockRow struct {
	X int64 `col:"x"`
}

// testRegistry is the real tables plus the probes; distributed_block
// signals started when it runs.
func testRegistry(t testing.TB, started chan<- struct{}) *table.Registry {
	t.Helper()
	reg := table.Default.Clone()
	probe, err := table.New(table.Spec{Name: "distributed_probe", Columns: []table.Column{table.Text("request_id")}},
		func(ctx context.Context, q *table.Query, emit func(probeRow)) error {
			emit(probeRow{RequestID: remote.RequestID(ctx)})
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	block, err := table.New(table.Spec{Name: "distributed_block", Columns: []table.Column{table.BigInt("x")}},
		func(ctx context.Context, q *table.Query, emit func(blockRow)) error {
			select {
			case started <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*table.Def{probe, block} {
		if err := reg.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

type fixture struct {
	t      *testing.T
	srv    *remotetest.Server
	fl     *flags.Set
	args   []string // the flags' command line
	db     *sqlengine.DB
	path   string
	st     *store.DB
	client *remote.Client
	r      *Runner
	logs   *logRecorder
	now    atomic.Int64
	sleeps chan time.Duration
	// blockStarted hears from distributed_block.
	blockStarted chan struct{}

	mu     sync.Mutex
	badKey string // the node key invalidate made the server forget
}

// newFixture starts a server and a runner on a store file, the real tables
// and flags pointing at the server.
func newFixture(t *testing.T, extra ...string) *fixture {
	t.Helper()
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s3cret"})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := flags.Standard()
	args := append(srv.Flags(), "--enroll_secret_path="+secret, "--tls_enroll_max_attempts=2",
		"--disable_distributed=false", "--distributed_interval=7")
	args = append(args, extra...)
	if _, err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	db, err := sqlengine.Open(table.HostEnv(fl, testRegistry(t, started), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, srv: srv, fl: fl, args: args, db: db, path: filepath.Join(dir, "osquery.db"), logs: &logRecorder{}, blockStarted: started}
	f.now.Store(1_700_000_000)
	f.open()
	t.Cleanup(func() {
		if f.st != nil {
			f.st.Close()
		}
	})
	return f
}

// open opens the store file and builds a client and a runner on it, as a
// daemon start does.
func (f *fixture) open() {
	f.t.Helper()
	st, err := store.Open(f.path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.client = remote.New(remote.Options{
		Flags: f.fl, Store: st,
		HostIdentifier: func() string { return "host-a" },
		Sleep:          func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		Timeout:        10 * time.Second,
	})
	f.r = New(Options{
		Client: f.client, DB: f.db, Store: st, Flags: f.fl,
		Log: slog.New(f.logs),
		Now: func() time.Time { return time.Unix(f.now.Load(), 0) },
		Sleep: func(ctx context.Context, d time.Duration) error {
			if f.sleeps != nil {
				select {
				case f.sleeps <- d:
				case <-ctx.Done():
				}
			}
			return ctx.Err()
		},
	})
}

// restart closes the store and starts a new runner on the same file, as a
// worker restarted by the watchdog.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) once() error {
	f.t.Helper()
	return f.r.RunOnce(context.Background())
}

// invalidate makes the server forget the node key, as Fleet does for a
// deleted host: the default endpoints and the scripted reads answer
// node_invalid to it.
func (f *fixture) invalidate() {
	f.t.Helper()
	key, _, err := f.st.Get(context.Background(), store.DomainConfigurations, "nodeKey")
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv.Invalidate()
	f.mu.Lock()
	f.badKey = string(key)
	f.mu.Unlock()
}

// answers makes the read endpoint give bodies in turn, then no queries.
func (f *fixture) answers(bodies ...string) {
	var mu sync.Mutex
	f.srv.Handle(remotetest.DistributedReadPath, func(r remotetest.Recorded) (int, []byte) {
		f.mu.Lock()
		bad := f.badKey
		f.mu.Unlock()
		if bad != "" && remotetest.NodeKeyOf(r) == bad {
			return http.StatusUnauthorized, remotetest.NodeInvalid
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) == 0 {
			return http.StatusOK, []byte(`{"queries":{}}`)
		}
		b := bodies[0]
		bodies = bodies[1:]
		return http.StatusOK, []byte(b)
	})
}

func (f *fixture) writes() []remotetest.Recorded {
	return f.srv.Requests(remotetest.DistributedWritePath)
}

// lastWrite decodes the last write request.
func (f *fixture) lastWrite() *written {
	f.t.Helper()
	ws := f.writes()
	if len(ws) == 0 {
		f.t.Fatal("no write request")
	}
	return decodeWrite(f.t, ws[len(ws)-1].Raw)
}

func (f *fixture) keys(domain, prefix string) []string {
	f.t.Helper()
	var out []string
	err := f.st.Scan(context.Background(), domain, prefix, func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// queued lists the queued ids (not the stored results).
func (f *fixture) queued() []string {
	var out []string
	for _, k := range f.keys(store.DomainDistributed, "") {
		if !strings.HasPrefix(k, resultPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// pair is one key and value of a row, in the order written.
type pair struct{ K, V string }

// written is a decoded write request; rows keep their key order.
type written struct {
	raw      []byte
	nodeKey  string
	queries  map[string][][]pair
	statuses map[string]json.Number
	messages map[string]string
	stats    map[string]map[string]json.Number
	keys     []string // top-level keys
}

func decodeWrite(t testing.TB, raw []byte) *written {
	t.Helper()
	if !json.Valid(raw) {
		t.Fatalf("write body is not JSON: %.200q", raw)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	w := &written{raw: raw, queries: map[string][][]pair{}}
	for k := range top {
		w.keys = append(w.keys, k)
	}
	json.Unmarshal(top["node_key"], &w.nodeKey)
	dec := func(k string, into any) {
		d := json.NewDecoder(bytes.NewReader(top[k]))
		d.UseNumber()
		if err := d.Decode(into); err != nil {
			t.Fatalf("%s: %v in %s", k, err, top[k])
		}
	}
	dec("statuses", &w.statuses)
	dec("messages", &w.messages)
	dec("stats", &w.stats)
	var qs map[string]json.RawMessage
	dec("queries", &qs)
	for id, arr := range qs {
		w.queries[id] = orderedRows(t, arr)
	}
	return w
}

// orderedRows reads an array of objects of strings keeping key order.
func orderedRows(t testing.TB, raw []byte) [][]pair {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	expect := func(want json.Delim) {
		tok, err := d.Token()
		if err != nil || tok != want {
			t.Fatalf("want %v, got %v %v in %.200s", want, tok, err, raw)
		}
	}
	rows := [][]pair{}
	expect('[')
	for d.More() {
		expect('{')
		var row []pair
		for d.More() {
			k, err := d.Token()
			if err != nil {
				t.Fatal(err)
			}
			v, err := d.Token()
			s, ok := v.(string)
			if err != nil || !ok {
				t.Fatalf("value of %v is %T %v, want a string", k, v, v)
			}
			row = append(row, pair{k.(string), s})
		}
		expect('}')
		rows = append(rows, row)
	}
	expect(']')
	return rows
}

func rowString(rows [][]pair) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("{")
		for i, p := range r {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s=%s", p.K, p.V)
		}
		b.WriteString("}")
	}
	return b.String()
}
