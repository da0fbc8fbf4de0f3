package extensions

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/extensions/extinfo"
	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/table"
	_ "github.com/gosquery/gosquery/internal/tables/utility" // time, osquery_extensions
	"github.com/gosquery/gosquery/internal/testenv"
	sdk "github.com/gosquery/gosquery/pkg/extension"
)

// testManager starts a manager on a socket in a temp dir, with its own
// copy of the table registry.
func testManager(t *testing.T, extra ...string) (*Manager, *table.Env) {
	t.Helper()
	// Socket paths must stay short (sockaddr_un).
	dir, err := os.MkdirTemp("", "em")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fl := flags.Standard()
	args := append([]string{"--extensions_socket=" + filepath.Join(dir, "osquery.em"), "--extensions_interval=1",
		"--extensions_autoload=" + filepath.Join(dir, "none.load")}, extra...)
	if _, err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	env := table.HostEnv(fl, table.Default.Clone(), nil)
	m, err := Start(Options{Flags: fl, Env: env, Version: "5.23.0"})
	if err != nil {
		t.Fatal(err)
	}
	env.SetService(extinfo.Key, m)
	t.Cleanup(m.Close)
	return m, env
}

func dial(t *testing.T, path string) *wire.Client {
	t.Helper()
	c, err := wire.Dial(path, 5*time.Second, wire.ClientLimits(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestManagerCoreMethods(t *testing.T) {
	m, _ := testManager(t)
	fi, err := os.Stat(m.Path())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	c := dial(t, m.Path())
	ctx := context.Background()
	st, err := c.Ping(ctx)
	if err != nil || st.Code != 0 || st.Message != "pong" || st.UUID != 0 {
		t.Fatalf("ping %+v %v", st, err)
	}
	r, err := c.Query(ctx, "select 1 as a, null as b, 'x' as c, 2.5 as d")
	if err != nil || r.Status.Code != 0 {
		t.Fatalf("query %+v %v", r, err)
	}
	want := map[string]string{"a": "1", "b": "", "c": "x", "d": "2.5"}
	if len(r.Response) != 1 || !equalMaps(r.Response[0], want) {
		t.Fatalf("rows %v", r.Response)
	}
	r, _ = c.Query(ctx, "select * from no_such_table")
	if r.Status.Code != 1 || r.Status.Message != "no such table: no_such_table" {
		t.Fatalf("bad query status %+v", r.Status)
	}
	r, err = c.GetQueryColumns(ctx, "select unix_time, 1 + 1 as two, timezone from time")
	if err != nil || r.Status.Code != 0 {
		t.Fatalf("columns %+v %v", r, err)
	}
	cols, _ := json.Marshal(r.Response)
	if string(cols) != `[{"unix_time":"INTEGER"},{"two":"UNKNOWN"},{"timezone":"TEXT"}]` {
		t.Fatalf("columns %s", cols)
	}
	opts, err := c.Options(ctx)
	if err != nil || opts["extensions_socket"].GetValue() != m.Path() || opts["extensions_socket"].GetDefaultValue() != "/var/osquery/osquery.em" ||
		opts["thrift_timeout"].GetType() != "uint32" || len(opts) < 100 {
		t.Fatalf("options %v (%d)", err, len(opts))
	}
	exts, err := c.Extensions(ctx)
	if err != nil || len(exts) != 0 {
		t.Fatalf("extensions %v %v", exts, err)
	}
	dst, _ := c.DeregisterExtension(ctx, 42)
	if dst.Code != 1 || dst.Message != "No extension UUID found" {
		t.Fatalf("deregister unknown %+v", dst)
	}
	// call into a core table, as an extension would.
	cr, err := c.Call(ctx, "table", "time", map[string]string{"action": "generate", "context": `{"constraints":[],"colsUsed":["unix_time"]}`})
	if err != nil || cr.Status.Code != 0 || len(cr.Response) != 1 || cr.Response[0]["unix_time"] == "" {
		t.Fatalf("call time %+v %v", cr, err)
	}
	cr, _ = c.Call(ctx, "bogus", "x", nil)
	if cr.Status.Code != 1 || cr.Status.Message != "Unknown registry: bogus" {
		t.Fatalf("call bogus %+v", cr.Status)
	}
	if !testenv.Eventually(10*time.Second, 100*time.Millisecond, m.Healthy) {
		t.Fatal("manager not healthy")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestRegisterRules(t *testing.T) {
	m, env := testManager(t)
	c := dial(t, m.Path())
	ctx := context.Background()
	cols := osquery.ExtensionPluginResponse{{"id": "column", "name": "a", "type": "TEXT", "op": "0"}}
	reg := func(name, sdk string, r osquery.ExtensionRegistry) *osquery.ExtensionStatus {
		st, err := c.RegisterExtension(ctx, &osquery.InternalExtensionInfo{Name: name, Version: "1", SdkVersion: sdk}, r)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := reg("one", "5.0.0", osquery.ExtensionRegistry{"table": {"ext_one": cols}})
	if st.Code != 0 || st.Message != "OK" || st.UUID <= 0 || st.UUID > 65535 {
		t.Fatalf("register %+v", st)
	}
	if d := env.Tables.Get("ext_one"); d == nil || d.Owner != uint64(st.UUID) || d.Spec.Columns[0].Flags != table.Index {
		t.Fatalf("table def %+v", d)
	}
	uuid := st.UUID
	cases := []struct {
		name, sdk string
		reg       osquery.ExtensionRegistry
		msg       string
	}{
		{"one", "5.0.0", nil, "Duplicate extension registered"},
		{"two", "1.7.6", nil, "Incompatible extension SDK version"},
		{"two", "5.0.0", osquery.ExtensionRegistry{"nope": {"x": nil}}, "Failed adding registry: Unknown registry: nope"},
		{"two", "5.0.0", osquery.ExtensionRegistry{"table": {"time": cols}}, "Failed adding registry: Registry item time conflicts with another item of the same name."},
		{"two", "5.0.0", osquery.ExtensionRegistry{"table": {"ext_one": cols}}, "Failed adding registry: Registry item ext_one conflicts with another item of the same name."},
		{"two", "5.0.0", osquery.ExtensionRegistry{"logger": {"filesystem": nil}}, "Failed adding registry: Registry item filesystem conflicts with another item of the same name."},
		{"two", "5.0.0", osquery.ExtensionRegistry{"table": {"bad table": cols}}, "Failed adding registry: Invalid route info for table bad table"},
		{"two", "5.0.0", osquery.ExtensionRegistry{"table": {"empty": {}}}, "Failed adding registry: Invalid route info"},
	}
	for _, tc := range cases {
		st := reg(tc.name, tc.sdk, tc.reg)
		if st.Code != 1 || !strings.HasPrefix(st.Message, tc.msg) {
			t.Errorf("%s/%s: %+v, want %q", tc.name, tc.sdk, st, tc.msg)
		}
	}
	// An old but unknown SDK version passes, as in osquery.
	if st := reg("three", "", nil); st.Code != 0 {
		t.Fatalf("empty sdk: %+v", st)
	}
	exts, _ := c.Extensions(ctx)
	if len(exts) != 2 || exts[uuid].GetName() != "one" {
		t.Fatalf("extensions %v", exts)
	}
	list := m.ExtensionList()
	if len(list) != 3 || list[0].Type != "core" || list[0].Path != m.Path() {
		t.Fatalf("list %+v", list)
	}
	if st, _ := c.DeregisterExtension(ctx, int64(uuid)); st.Code != 0 {
		t.Fatalf("deregister %+v", st)
	}
	if env.Tables.Get("ext_one") != nil {
		t.Fatal("table survived deregistration")
	}
}

// helloServer runs an SDK extension in-process against the manager.
func helloServer(t *testing.T, m *Manager, name string, tbl sdk.Table, opts ...sdk.Option) (*sdk.Server, chan error) {
	t.Helper()
	srv, err := sdk.NewServer(m.Path(), name, append([]sdk.Option{sdk.WithPingInterval(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterTable(tbl); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	return srv, done
}

func waitTable(t *testing.T, env *table.Env, name string, present bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if (env.Tables.Get(name) != nil) == present {
			return
		}
	}
	t.Fatalf("table %s present=%v never happened", name, !present)
}

func TestExtensionTableThroughManager(t *testing.T) {
	m, env := testManager(t)
	var mu sync.Mutex
	var seen []sdk.QueryContext
	tbl := sdk.Table{
		Name: "typed",
		Columns: []sdk.Column{
			{Name: "t", Type: sdk.Text},
			{Name: "i", Type: sdk.Integer, Options: sdk.Index},
			{Name: "b", Type: sdk.BigInt},
			{Name: "d", Type: sdk.Double},
			{Name: "h", Type: sdk.Text, Options: sdk.Hidden},
		},
		Generate: func(ctx context.Context, qc sdk.QueryContext) ([]map[string]string, error) {
			mu.Lock()
			seen = append(seen, qc)
			mu.Unlock()
			return []map[string]string{
				{"t": "a", "i": "1", "b": "0x10", "d": "1.5", "h": "hid"},
				{"t": "b", "i": "", "b": "junk", "d": "", "h": ""},
				{"t": "c", "i": "3"},
			}, nil
		},
	}
	_, _ = helloServer(t, m, "typed_ext", tbl)
	waitTable(t, env, "typed", true)
	c := dial(t, m.Path())
	ctx := context.Background()
	r, err := c.Query(ctx, "select t, i, b, d, typeof(i) ti, typeof(b) tb, typeof(d) td from typed order by t")
	if err != nil || r.Status.Code != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	got, _ := json.Marshal(r.Response)
	want := `[{"b":"16","d":"1.5","i":"1","t":"a","tb":"integer","td":"real","ti":"integer"},` +
		`{"b":"","d":"","i":"","t":"b","tb":"null","td":"null","ti":"null"},` +
		`{"b":"","d":"","i":"3","t":"c","tb":"null","td":"null","ti":"integer"}]`
	if string(got) != want {
		t.Fatalf("rows\n%s\nwant\n%s", got, want)
	}
	// Constraints reach the extension (every column is indexed by default).
	r, _ = c.Query(ctx, "select t from typed where i = 3 and t in ('a','c')")
	if r.Status.Code != 0 || len(r.Response) != 1 || r.Response[0]["t"] != "c" {
		t.Fatalf("filtered %+v", r)
	}
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	if eq := last.Equals("i"); len(eq) != 1 || eq[0] != "3" {
		t.Fatalf("constraints on i: %+v", last.Constraints)
	}
	if eq := last.Equals("t"); len(eq) != 2 {
		t.Fatalf("IN on t: %+v", last.Constraints["t"])
	}
	if last.Constraints["d"].Affinity != sdk.Double || !last.Used("t") || last.Used("d") {
		t.Fatalf("context %+v", last)
	}
	// SELECT * leaves out the hidden column.
	cr, _ := c.GetQueryColumns(ctx, "select * from typed")
	if len(cr.Response) != 4 {
		t.Fatalf("select * columns %v", cr.Response)
	}
	r, _ = c.Query(ctx, "select uuid, name, type, path from osquery_extensions order by uuid")
	if len(r.Response) != 2 || r.Response[0]["type"] != "core" || r.Response[1]["name"] != "typed_ext" ||
		!strings.HasPrefix(r.Response[1]["path"], m.Path()+".") {
		t.Fatalf("osquery_extensions %v", r.Response)
	}
}

func TestGeneratorErrorAndDeadExtension(t *testing.T) {
	m, env := testManager(t)
	srv, done := helloServer(t, m, "failing", sdk.Table{
		Name:    "failing",
		Columns: []sdk.Column{{Name: "x", Type: sdk.Text}},
		Generate: func(context.Context, sdk.QueryContext) ([]map[string]string, error) {
			return nil, os.ErrPermission
		},
	})
	waitTable(t, env, "failing", true)
	c := dial(t, m.Path())
	r, _ := c.Query(context.Background(), "select * from failing")
	if r.Status.Code != 1 || !strings.Contains(r.Status.Message, "error generating table: permission denied") {
		t.Fatalf("status %+v", r.Status)
	}
	// The extension stops serving without deregistering: health checks
	// remove its table.
	uuid := srv.UUID()
	m.mu.Lock()
	e := m.exts[uuid]
	m.mu.Unlock()
	os.Remove(e.pool.Path())
	waitTable(t, env, "failing", false)
	r, _ = c.Query(context.Background(), "select * from failing")
	if r.Status.Code != 1 || r.Status.Message != "no such table: failing" {
		t.Fatalf("after removal %+v", r.Status)
	}
	// The extension notices it was dropped.
	select {
	case err := <-done:
		if err != sdk.ErrDeregistered {
			t.Fatalf("Run returned %v", err)
		}
		done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("extension did not notice deregistration")
	}
}

func TestExtensionExitsWhenCoreCloses(t *testing.T) {
	m, env := testManager(t)
	_, done := helloServer(t, m, "watcher", sdk.Table{
		Name: "watched", Columns: []sdk.Column{{Name: "x"}},
		Generate: func(context.Context, sdk.QueryContext) ([]map[string]string, error) { return nil, nil },
	})
	waitTable(t, env, "watched", true)
	m.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
		done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("extension kept running after the core closed")
	}
	if _, err := os.Stat(m.Path()); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if matches, _ := filepath.Glob(m.Path() + ".*"); len(matches) != 0 {
		t.Fatalf("extension sockets left behind: %v", matches)
	}
}

// memLogger records what a logger plugin receives.
type memLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLogger) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *memLogger) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func TestLoggerAndConfigPluginsFromExtension(t *testing.T) {
	m, _ := testManager(t)
	rec := &memLogger{}
	srv, err := sdk.NewServer(m.Path(), "plugins", sdk.WithPingInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterLogger(sdk.LoggerPlugin{Name: "ext_log_test", Log: func(_ context.Context, typ sdk.LogType, text string) error {
		rec.add([]string{"result", "snapshot", "status"}[typ] + ":" + text)
		return nil
	}})
	srv.RegisterConfig(sdk.ConfigPlugin{Name: "ext_cfg_test",
		GenConfig: func(context.Context) (map[string]string, error) {
			return map[string]string{"ext": `{"options":{"verbose":"true"}}`}, nil
		},
		GenPack: func(_ context.Context, name, _ string) (string, error) { return `{"queries":{}}`, nil },
	})
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()
	defer func() { srv.Shutdown(context.Background()); <-done }()
	if !m.WaitForPlugin("logger", "ext_log_test") || !m.WaitForPlugin("config", "ext_cfg_test") {
		t.Fatal("plugins not registered")
	}
	fl := flags.Standard()
	fl.Set("logger_plugin", "ext_log_test")
	p, err := logger.FromFlags(fl, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.LogResult(ctx, []byte(`{"r":1}`)); err != nil {
		t.Fatal(err)
	}
	p.LogSnapshot(ctx, []byte(`{"s":1}`))
	p.LogStatus(ctx, []logging.Status{{Severity: logging.Warning, File: "f.go", Line: 3, Message: "m", Time: time.Unix(1, 0)}})
	got := rec.all()
	if len(got) != 3 || got[0] != `result:{"r":1}` || got[1] != `snapshot:{"s":1}` || !strings.HasPrefix(got[2], `status:[{"s":1,"f":"f.go","i":3,"m":"m"`) {
		t.Fatalf("logged %q", got)
	}
	cp, err := config.NewPlugin("ext_cfg_test", fl)
	if err != nil {
		t.Fatal(err)
	}
	src, err := cp.Gen(ctx)
	if err != nil || string(src["ext"]) != `{"options":{"verbose":"true"}}` {
		t.Fatalf("genConfig %q %v", src, err)
	}
	pack, err := cp.GenPack(ctx, "p", "v")
	if err != nil || string(pack) != `{"queries":{}}` {
		t.Fatalf("genPack %q %v", pack, err)
	}
	plugins := m.Plugins()
	found := 0
	for _, pl := range plugins {
		if (pl.Name == "ext_log_test" || pl.Name == "ext_cfg_test") && pl.Owner == uint64(srv.UUID()) {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("osquery_registry plugins %+v", plugins)
	}
	// Gone extension: the plugin name fails cleanly, and can be taken again.
	srv.Shutdown(ctx)
	<-done
	done <- nil
	if err := p.LogResult(ctx, []byte("x")); err == nil {
		t.Fatal("logging to a gone extension succeeded")
	}
	if pluginExists("logger", "ext_log_test") {
		t.Fatal("gone plugin still exists")
	}
}

func TestHostileClients(t *testing.T) {
	m, _ := testManager(t)
	c := dial(t, m.Path())
	send := func(b []byte) {
		nc, err := net.Dial("unix", m.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(b)
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		nc.Read(buf) // an exception reply or a close, never a hang
	}
	// A versioned "query" call whose sql claims 100 MB.
	frame := []byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 5, 'q', 'u', 'e', 'r', 'y', 0, 0, 0, 1,
		11, 0, 1, 0x06, 0x40, 0x00, 0x00}
	send(frame)
	// A call whose request map claims 2^30 entries.
	call := []byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4, 'c', 'a', 'l', 'l', 0, 0, 0, 1,
		13, 0, 3, 11, 11, 0x40, 0, 0, 0}
	send(call)
	// An unversioned header whose name claims 2 GB, random bytes, a
	// truncated frame.
	send([]byte{0x7f, 0xff, 0xff, 0xff})
	send([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	send(frame[:10])
	st, err := c.Ping(context.Background())
	if err != nil || st.Message != "pong" {
		t.Fatalf("ping after garbage: %v %v", st, err)
	}
}

func TestIdleConnectionsAreEvicted(t *testing.T) {
	m, _ := testManager(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range wire.DefaultMaxConns + 50 {
		nc, err := net.Dial("unix", m.Path())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	c := dial(t, m.Path())
	st, err := c.Ping(context.Background())
	if err != nil || st.Message != "pong" {
		t.Fatalf("ping with idle connections: %v", err)
	}
	if n := m.srv.Conns(); n > wire.DefaultMaxConns {
		t.Fatalf("%d connections kept", n)
	}
}

func TestContextJSON(t *testing.T) {
	spec := table.Spec{Name: "t", Columns: []table.Column{table.Text("z"), table.BigInt("a"), table.Double("m")}}
	q := table.NewQuery(nil, &spec)
	q.Add(1, table.Constraint{Op: table.OpEq, Expr: "5"})
	q.Add(1, table.Constraint{Op: table.OpGt, Expr: "1"})
	q.SetUsed(0b101)
	got := contextJSON(&spec, q)
	want := `{"constraints":[{"name":"a","list":[{"op":2,"expr":"5"},{"op":4,"expr":"1"}],"affinity":"BIGINT"},` +
		`{"name":"m","list":[],"affinity":"DOUBLE"},{"name":"z","list":[],"affinity":"TEXT"}],"colsUsed":["m","z"],"colsUsedBitset":5}`
	if got != want {
		t.Fatalf("\n%s\n%s", got, want)
	}
	back := queryFromContext(nil, &spec, got)
	if back.UsedMask() != 5 || len(back.Constraints("a")) != 2 {
		t.Fatalf("round trip %v", back.Constraints("a"))
	}
}

func TestParseCInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "-7": -7, "+3": 3, " 12": 12, "0x1F": 31, "010": 8,
		"9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63} {
		if got, ok := parseCInt(in); !ok || got != want {
			t.Errorf("%q: %d %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", " ", "x", "1.5", "12 ", "0x", "--1", "9223372036854775808", "1_000", "08"} {
		if _, ok := parseCInt(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		have string
		ok   bool
	}{{"1.7.7", true}, {"1.7.6", false}, {"1.8", true}, {"5.23.0", true}, {"0.0.0", true}, {"", true}, {"1.7", true}, {"1.6.9", false}, {"x.1", false}} {
		if got := versionAtLeast("1.7.7", tc.have); got != tc.ok {
			t.Errorf("%q: %v", tc.have, got)
		}
	}
}

func TestRequiredExtensionMissing(t *testing.T) {
	dir, _ := os.MkdirTemp("", "em")
	defer os.RemoveAll(dir)
	fl := flags.Standard()
	fl.Parse([]string{"--extensions_socket=" + filepath.Join(dir, "s.em"), "--extensions_require=absent", "--extensions_timeout=0.3"})
	start := time.Now()
	_, err := Start(Options{Flags: fl, Env: table.HostEnv(fl, table.Default.Clone(), nil)})
	if err == nil || err.Error() != "Required extension not found or not loaded: absent" {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("waited %v", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.em")); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
}

func TestSecondManagerLeavesLiveOneAlone(t *testing.T) {
	m, _ := testManager(t)
	fl := flags.Standard()
	fl.Set("extensions_socket", m.Path())
	if _, err := Start(Options{Flags: fl, Env: table.HostEnv(fl, table.Default.Clone(), nil)}); err == nil {
		t.Fatal("second manager started on a live socket")
	}
	// Healthy dials with a one-second timeout; on a loaded machine (CI
	// runs packages in parallel) one attempt may miss it, so the state is
	// waited for.
	if !testenv.Eventually(10*time.Second, 100*time.Millisecond, m.Healthy) {
		t.Fatal("first manager disturbed")
	}
}
