package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
	_ "github.com/gosquery/gosquery/internal/tables/all" // the in-process side of the benchmarks
	"github.com/gosquery/gosquery/pkg/extension"
)

var (
	helloOnce sync.Once
	helloPath string
	helloErr  error
)

// helloExt builds examples/hello_extension as <binDir>/hello.ext.
func helloExt(t testing.TB) string {
	t.Helper()
	helloOnce.Do(func() {
		helloPath = filepath.Join(binDir, "hello.ext")
		cmd := exec.Command("go", "build", "-o", helloPath, "../examples/hello_extension")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			helloErr = fmt.Errorf("build hello_extension: %v\n%s", err, out)
		}
	})
	if helloErr != nil {
		t.Fatal(helloErr)
	}
	return helloPath
}

// extDaemon is an osqueryd with its own extension socket.
type extDaemon struct {
	cmd    *exec.Cmd
	socket string
	stderr *bytes.Buffer
}

// startExtDaemon starts osqueryd in a temp dir with its extension socket
// there (a short path: sockaddr_un holds 108 bytes).
func startExtDaemon(t testing.TB, extra ...string) *extDaemon {
	t.Helper()
	root, err := os.MkdirTemp("", "ext")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	conf := filepath.Join(root, "osquery.conf")
	os.WriteFile(conf, []byte(`{"options": {"disable_events": "true"}, "schedule": {}}`), 0o644)
	d := &extDaemon{socket: filepath.Join(root, "osquery.em"), stderr: &bytes.Buffer{}}
	args := append([]string{"--config_path=" + conf, "--database_path=" + filepath.Join(root, "db"),
		"--logger_path=" + filepath.Join(root, "log"), "--pidfile=" + filepath.Join(root, "pid"),
		"--disable_watchdog", "--extensions_socket=" + d.socket, "--extensions_interval=1", "--verbose"}, extra...)
	d.cmd = exec.Command(filepath.Join(binDir, "osqueryd"), args...)
	d.cmd.Stderr = &lockedWriter{w: d.stderr}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
	})
	waitFor(t, "manager socket", func() bool { _, err := os.Stat(d.socket); return err == nil })
	return d
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (d *extDaemon) client(t testing.TB) *wire.Client {
	t.Helper()
	c, err := wire.Dial(d.socket, 10*time.Second, wire.ClientLimits(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connectQuery runs osqueryi --connect --json and returns its rows.
func connectQuery(t *testing.T, socket, sql string) ([]map[string]string, result) {
	t.Helper()
	r := run(t, "osqueryi", "", "--connect", socket, "--json", sql)
	var rows []map[string]string
	if r.code == 0 && strings.TrimSpace(r.stdout) != "" {
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("--connect output is not JSON: %v\n%s", err, r.stdout)
		}
	}
	return rows, r
}

func rssKB(t testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

func TestExtensionsGoClient(t *testing.T) {
	d := startExtDaemon(t)
	c := d.client(t)
	ctx := context.Background()
	st, err := c.Ping(ctx)
	if err != nil || st.Code != 0 || st.Message != "pong" {
		t.Fatalf("ping %+v %v", st, err)
	}
	r, err := c.Query(ctx, "select pid, version, extensions from osquery_info")
	if err != nil || r.Status.Code != 0 || len(r.Response) != 1 {
		t.Fatalf("query %+v %v", r, err)
	}
	if row := r.Response[0]; row["pid"] != strconv.Itoa(d.cmd.Process.Pid) || row["version"] != "5.23.0" || row["extensions"] != "active" {
		t.Fatalf("osquery_info %v", row)
	}
	cols, err := c.GetQueryColumns(ctx, "select pid, version, 1 as one from osquery_info")
	if err != nil || fmt.Sprint(cols.Response) != "[map[pid:INTEGER] map[version:TEXT] map[one:UNKNOWN]]" {
		t.Fatalf("getQueryColumns %v %v", cols.Response, err)
	}
	opts, err := c.Options(ctx)
	if err != nil || opts["extensions_socket"].GetValue() != d.socket || opts["disable_watchdog"].GetValue() != "true" ||
		opts["disable_watchdog"].GetType() != "bool" {
		t.Fatalf("options %v", err)
	}
	exts, err := c.Extensions(ctx)
	if err != nil || len(exts) != 0 {
		t.Fatalf("extensions %v %v", exts, err)
	}
	r, _ = c.Query(ctx, "select * from nope")
	if r.Status.Code != 1 || r.Status.Message != "no such table: nope" {
		t.Fatalf("error status %+v", r.Status)
	}
	// The daemon's live state, through osqueryi --connect.
	rows, res := connectQuery(t, d.socket, "select * from process_ancestry_cache_stats")
	if res.code != 0 || len(rows) != 1 || rows[0]["cache_capacity"] == "" {
		t.Fatalf("--connect cache stats: %v %+v", rows, res)
	}
	res = run(t, "osqueryi", "", "--connect", d.socket, "select * from nope")
	if res.code != 1 || strings.TrimSpace(res.stderr) != "Error: no such table: nope" {
		t.Fatalf("--connect error: %+v", res)
	}
	res = run(t, "osqueryi", "", "--connect", d.socket+".missing", "select 1")
	if res.code == 0 || !strings.Contains(res.stderr, "Extension call failed") {
		t.Fatalf("--connect to nothing: %+v", res)
	}
	// .connect / .disconnect from piped input.
	res = run(t, "osqueryi", ".connect "+d.socket+"\nselect pid from osquery_info;\n.disconnect\nselect pid from osquery_info;\n", "--list", "--header=false")
	lines := strings.Fields(res.stdout)
	if res.code != 0 || len(lines) != 2 || lines[0] != strconv.Itoa(d.cmd.Process.Pid) || lines[1] == lines[0] {
		t.Fatalf(".connect/.disconnect: %+v", res)
	}
}

func TestExtensionsPythonClient(t *testing.T) {
	if _, err := exec.LookPath("thrift"); err != nil {
		t.Skip("thrift compiler not installed (Debian package thrift-compiler)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import thrift.transport.TSocket").Run(); err != nil {
		t.Skip("/usr/bin/python3 has no thrift module (Debian package python3-thrift)")
	}
	gen := t.TempDir()
	out, err := exec.Command("thrift", "-out", gen, "--gen", "py", "../internal/extensions/osquery.thrift").CombinedOutput()
	if err != nil {
		t.Fatalf("thrift --gen py: %v\n%s", err, out)
	}
	d := startExtDaemon(t)
	script := `
import json, sys
sys.path.insert(0, sys.argv[1])
from thrift.transport import TSocket, TTransport
from thrift.protocol import TBinaryProtocol
from osquery.extensions import ExtensionManager
trans = TTransport.TBufferedTransport(TSocket.TSocket(unix_socket=sys.argv[2]))
c = ExtensionManager.Client(TBinaryProtocol.TBinaryProtocol(trans))
trans.open()
out = {}
p = c.ping()
out["ping"] = [p.code, p.message, p.uuid]
q = c.query("select 1 as one, 'a' as two, null as three")
out["query"] = [q.status.code, q.response]
out["columns"] = c.getQueryColumns("select 1 as one, version from osquery_info").response
out["socket"] = c.options()["extensions_socket"].value
out["extensions"] = {str(k): v.name for k, v in c.extensions().items()}
bad = c.query("select * from nope")
out["bad"] = [bad.status.code, bad.status.message]
print(json.dumps(out, sort_keys=True))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, gen, d.socket)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, got)
	}
	want := fmt.Sprintf(`{"bad": [1, "no such table: nope"], "columns": [{"one": "UNKNOWN"}, {"version": "TEXT"}], "extensions": {}, `+
		`"ping": [0, "pong", 0], "query": [0, [{"one": "1", "three": "", "two": "a"}]], "socket": %q}`, d.socket)
	if strings.TrimSpace(string(got)) != want {
		t.Fatalf("python client:\n%s\nwant\n%s", got, want)
	}
}

func TestExtensionsHelloLifecycle(t *testing.T) {
	hello := helloExt(t)
	d := startExtDaemon(t)
	startHello := func() *exec.Cmd {
		cmd := exec.Command(hello, "--socket", d.socket, "--timeout", "3", "--interval", "1")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	want := `[{"greeting":"hello, world","length":"5","name":"world"},{"greeting":"hello, gosquery","length":"8","name":"gosquery"}]`
	waitRows := func() {
		waitFor(t, "hello_world rows", func() bool {
			rows, _ := connectQuery(t, d.socket, "select * from hello_world")
			b, _ := json.Marshal(rows)
			return string(b) == want
		})
	}
	ext := startHello()
	waitRows()
	rows, res := connectQuery(t, d.socket, "select name, greeting, length from hello_world where name = 'ada' or name = 'grace'")
	if res.code != 0 || len(rows) != 2 || rows[0]["greeting"] != "hello, ada" || rows[1]["length"] != "5" {
		t.Fatalf("constrained: %v %+v", rows, res)
	}
	rows, _ = connectQuery(t, d.socket, "select name, type, path from osquery_extensions where type = 'extension'")
	if len(rows) != 1 || rows[0]["name"] != "hello_extension" || !strings.HasPrefix(rows[0]["path"], d.socket+".") {
		t.Fatalf("osquery_extensions %v", rows)
	}
	// SIGKILL: the extension cannot deregister; the health checks remove
	// its table within two intervals.
	killed := time.Now()
	ext.Process.Kill()
	ext.Wait()
	waitFor(t, "hello_world to be removed", func() bool {
		_, res := connectQuery(t, d.socket, "select * from hello_world")
		return res.code != 0 && strings.Contains(res.stderr, "no such table: hello_world")
	})
	if took := time.Since(killed); took > 5*time.Second {
		t.Errorf("removal took %v with --extensions_interval=1", took)
	}
	startHello()
	waitRows()
}

func TestExtensionsAutoloadRestarts(t *testing.T) {
	hello := helloExt(t)
	list := filepath.Join(t.TempDir(), "extensions.load")
	os.WriteFile(list, []byte("# autoloaded\n"+hello+"\n; not this\n/nonexistent/x.ext\n"), 0o644)
	d := startExtDaemon(t, "--extensions_autoload="+list, "--extensions_require=hello_extension", "--extensions_timeout=10")
	// The socket is served before the autoloaded extension has registered
	// (it needs the socket to do so), so the table appears a moment later.
	var rows []map[string]string
	var res result
	waitFor(t, "the autoloaded table", func() bool {
		rows, res = connectQuery(t, d.socket, "select name from hello_world")
		return res.code == 0
	})
	if len(rows) != 2 {
		t.Fatalf("autoloaded table: %v %+v", rows, res)
	}
	pid := extensionPid(t, hello, d.socket)
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "a restarted extension", func() bool {
		p := findExtensionPid(hello, d.socket)
		if p == 0 || p == pid {
			return false
		}
		rows, _ := connectQuery(t, d.socket, "select name from hello_world")
		return len(rows) == 2
	})
	// Stopping the daemon stops its extensions.
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	waitFor(t, "the extension to exit with the daemon", func() bool { return findExtensionPid(hello, d.socket) == 0 })
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Fatalf("socket left after shutdown: %v", err)
	}
}

// shellWithHome runs osqueryi with HOME set, so its extension socket is
// HOME/.osquery/shell.em as in osquery.
func shellWithHome(t *testing.T, home string, args ...string) result {
	t.Helper()
	return runEnv(t, []string{"HOME=" + home}, "osqueryi", "", args...)
}

// osqueryi --extension PATH serves ~/.osquery/shell.em, runs the extension
// without the autoload permission checks, waits for it before the first
// statement, and stops it on exit.
func TestShellExtensionFlag(t *testing.T) {
	hello := helloExt(t)
	home, err := os.MkdirTemp("", "home")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	socket := filepath.Join(home, ".osquery", "shell.em")
	r := shellWithHome(t, home, "--extension", hello, "--json",
		"select h.greeting, e.name, e.path from hello_world h, osquery_extensions e where h.name = 'ada' and e.type = 'extension'")
	var rows []map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 ||
		rows[0]["greeting"] != "hello, ada" || rows[0]["name"] != "hello_extension" || !strings.HasPrefix(rows[0]["path"], socket+".") {
		t.Fatalf("osqueryi --extension: %+v", r)
	}
	waitFor(t, "the extension to exit with the shell", func() bool { return findExtensionPid(hello, socket) == 0 })
	if left, _ := filepath.Glob(socket + "*"); len(left) != 0 {
		t.Fatalf("sockets left after the shell exited: %v", left)
	}

	// A daemon already serving shell.em keeps it: the shell takes a
	// numbered socket, and the extension registers with the shell only.
	root, _ := os.MkdirTemp("", "ext")
	t.Cleanup(func() { os.RemoveAll(root) })
	d := exec.Command(filepath.Join(binDir, "osqueryd"), "--config_path=/nonexistent", "--database_path="+filepath.Join(root, "db"),
		"--logger_path="+root, "--pidfile="+filepath.Join(root, "pid"), "--disable_watchdog", "--extensions_socket="+socket)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait() })
	waitFor(t, "the daemon's socket", func() bool { _, err := os.Stat(socket); return err == nil })
	r = shellWithHome(t, home, "--extension", hello, "--json", "select path from osquery_extensions where type = 'core'; select count(*) as n from hello_world;")
	if r.code != 0 || !regexp.MustCompile(`"path":"`+regexp.QuoteMeta(socket)+`[0-9]+"`).MatchString(r.stdout) || !strings.Contains(r.stdout, `"n":"2"`) {
		t.Fatalf("second shell beside a daemon: %+v", r)
	}
	if _, res := connectQuery(t, socket, "select * from hello_world"); res.code == 0 {
		t.Fatalf("the shell's extension registered with the daemon: %+v", res)
	}

	// Without --extension or a terminal, a one-shot query serves no socket.
	home2, _ := os.MkdirTemp("", "home")
	t.Cleanup(func() { os.RemoveAll(home2) })
	if r := shellWithHome(t, home2, "select 1"); r.code != 0 {
		t.Fatalf("select 1: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(home2, ".osquery", "shell.em")); !os.IsNotExist(err) {
		t.Fatalf("one-shot shell served a socket: %v", err)
	}
}

func findExtensionPid(bin, socket string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, e := range dirs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && args[0] == bin && strings.Contains(string(cmdline), socket) {
			if st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); strings.Contains(string(st), ") Z ") {
				continue
			}
			return pid
		}
	}
	return 0
}

func extensionPid(t *testing.T, bin, socket string) int {
	t.Helper()
	var pid int
	waitFor(t, "the autoloaded extension", func() bool { pid = findExtensionPid(bin, socket); return pid != 0 })
	return pid
}

func TestExtensionsRequireMissing(t *testing.T) {
	root, _ := os.MkdirTemp("", "ext")
	defer os.RemoveAll(root)
	start := time.Now()
	cmd := exec.Command(filepath.Join(binDir, "osqueryd"), "--config_path="+filepath.Join(root, "none.conf"),
		"--database_path="+filepath.Join(root, "db"), "--pidfile="+filepath.Join(root, "pid"), "--disable_watchdog",
		"--extensions_socket="+filepath.Join(root, "em"), "--extensions_require=absent", "--extensions_timeout=1")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 78 || !strings.Contains(string(out), "Required extension not found or not loaded: absent") {
		t.Fatalf("exit %v: %s", err, out)
	}
	if took := time.Since(start); took < time.Second || took > 10*time.Second {
		t.Fatalf("waited %v for a 1s --extensions_timeout", took)
	}
}

func TestExtensionsDisabled(t *testing.T) {
	startExtDaemonNoSocket(t, "--disable_extensions")
}

// startExtDaemonNoSocket starts a daemon that is expected not to serve a
// socket, and checks it does not.
func startExtDaemonNoSocket(t *testing.T, extra ...string) {
	root, _ := os.MkdirTemp("", "ext")
	t.Cleanup(func() { os.RemoveAll(root) })
	sock := filepath.Join(root, "osquery.em")
	conf := filepath.Join(root, "osquery.conf")
	os.WriteFile(conf, []byte(`{"schedule": {}}`), 0o644)
	cmd := exec.Command(filepath.Join(binDir, "osqueryd"), append([]string{"--config_path=" + conf,
		"--database_path=" + filepath.Join(root, "db"), "--pidfile=" + filepath.Join(root, "pid"),
		"--logger_path=" + filepath.Join(root, "log"), "--disable_watchdog", "--extensions_socket=" + sock}, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	time.Sleep(time.Second)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("--disable_extensions still created the socket: %v", err)
	}
}

func TestExtensionsHostileClients(t *testing.T) {
	d := startExtDaemon(t)
	c := d.client(t)
	pid := d.cmd.Process.Pid
	ctx := context.Background()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	before := rssKB(t, pid)
	send := func(b []byte, wait bool) {
		nc, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(b)
		if wait {
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			for {
				if _, err := nc.Read(buf); err != nil {
					break
				}
			}
		}
	}
	// Random bytes, many times.
	for range 200 {
		b := make([]byte, 1+int(randByte())*16)
		rand.Read(b)
		send(b, false)
	}
	// A truncated frame: a query call cut in the middle of its string.
	send([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 5, 'q', 'u', 'e', 'r', 'y', 0, 0, 0, 1, 11, 0, 1, 0, 0, 0, 50, 's', 'e'}, false)
	// A frame claiming a 100 MB string, followed by 8 MB of it.
	claim := []byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 5, 'q', 'u', 'e', 'r', 'y', 0, 0, 0, 1, 11, 0, 1, 0x06, 0x40, 0x00, 0x00}
	send(append(claim, bytes.Repeat([]byte("a"), 8<<20)...), true)
	// A call whose request map claims 2^30 entries, a list claiming 2^31-1.
	send([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4, 'c', 'a', 'l', 'l', 0, 0, 0, 1, 13, 0, 3, 11, 11, 0x40, 0, 0, 0}, true)
	send([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 17, 'r', 'e', 'g', 'i', 's', 't', 'e', 'r', 'E', 'x', 't', 'e', 'n', 's', 'i', 'o', 'n',
		0, 0, 0, 1, 13, 0, 2, 11, 13, 0, 0, 0, 1, 0, 0, 0, 5, 't', 'a', 'b', 'l', 'e', 11, 15, 0, 0, 0, 1, 0, 0, 0, 1, 'x', 13, 11, 11, 0x7f, 0xff, 0xff, 0xff}, true)
	// An unversioned header claiming a 2 GB method name.
	send([]byte{0x7f, 0xff, 0xff, 0xff, 'x'}, true)
	// 1,000 idle connections held open.
	var idle []net.Conn
	for range 1000 {
		nc, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatalf("connection %d: %v", len(idle), err)
		}
		idle = append(idle, nc)
	}
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	// Another client is still served, by a fresh connection and by the
	// one opened before the attack.
	c2 := d.client(t)
	for _, cl := range []*wire.Client{c2, c} {
		st, err := cl.Ping(ctx)
		if err != nil || st.Message != "pong" {
			t.Fatalf("ping during the attack: %v %v", st, err)
		}
	}
	r, err := c2.Query(ctx, "select 1 as one")
	if err != nil || r.Response[0]["one"] != "1" {
		t.Fatalf("query during the attack: %v %v", r, err)
	}
	after := rssKB(t, pid)
	t.Logf("daemon RSS before %d kB, after %d kB", before, after)
	if after-before > 64<<10 {
		t.Fatalf("RSS grew from %d kB to %d kB", before, after)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("daemon died: %v", err)
	}
}

func randByte() byte {
	var b [1]byte
	rand.Read(b[:])
	return b[0]
}

func TestExtensionsSocketIsPrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as nobody")
	}
	d := startExtDaemon(t)
	fi, err := os.Stat(d.socket)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	// Only the socket's own mode may stop nobody: make the path and the
	// binary reachable.
	os.Chmod(filepath.Dir(d.socket), 0o755)
	os.Chmod(binDir, 0o755)
	cmd := exec.Command(filepath.Join(binDir, "osqueryi"), "--connect", d.socket, "select 1")
	cmd.Dir = "/"
	cmd.Env = []string{"HOME=/nonexistent", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("nobody connected: %v\n%s", err, out)
	}
	// root still can.
	if _, res := connectQuery(t, d.socket, "select 1 as one"); res.code != 0 {
		t.Fatalf("root: %+v", res)
	}
}

// --- benchmarks ---

// BenchmarkQueryRoundTrip compares query("select 1") over the daemon's
// socket with the same statement on an in-process engine.
func BenchmarkQueryRoundTrip(b *testing.B) {
	b.Run("socket", func(b *testing.B) {
		d := startExtDaemon(b)
		c := d.client(b)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			r, err := c.Query(ctx, "select 1")
			if err != nil || len(r.Response) != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("inprocess", func(b *testing.B) {
		db := inProcessDB(b, table.Default)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			r, err := db.Query(ctx, "select 1")
			if err != nil || len(r.Rows) != 1 {
				b.Fatal(err)
			}
		}
	})
}

func inProcessDB(b testing.TB, reg *table.Registry) *sqlengine.DB {
	fl := flags.Standard()
	db, err := sqlengine.Open(table.HostEnv(fl, reg, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

const benchRows = 10000

// benchRowSet is the same 10,000 rows for the extension and the in-process
// table.
var benchRowSet = func() []map[string]string {
	rows := make([]map[string]string, benchRows)
	for i := range rows {
		rows[i] = map[string]string{"id": strconv.Itoa(i), "name": "row-" + strconv.Itoa(i), "value": strconv.FormatFloat(float64(i)/7, 'f', 4, 64)}
	}
	return rows
}()

type benchRow struct {
	ID    int64   `col:"id"`
	Name  string  `col:"name"`
	Value float64 `col:"value"`
}

var benchSpec = table.Spec{Name: "bench_rows", Columns: []table.Column{table.BigInt("id"), table.Text("name"), table.Double("value")}}

// BenchmarkExtensionTableRows reads a 10,000-row table: served by an
// extension through the daemon (all rows to the client, and counted in
// the daemon), and as an in-process table with the same rows.
func BenchmarkExtensionTableRows(b *testing.B) {
	report := func(b *testing.B) {
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	daemonCase := func(sql string, check func(r []map[string]string) bool) func(b *testing.B) {
		return func(b *testing.B) {
			d := startExtDaemon(b)
			srv, err := extension.NewServer(d.socket, "bench_ext", extension.WithPingInterval(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			srv.RegisterTable(extension.Table{Name: "bench_rows",
				Columns: []extension.Column{{Name: "id", Type: extension.BigInt}, {Name: "name", Type: extension.Text}, {Name: "value", Type: extension.Double}},
				Generate: func(context.Context, extension.QueryContext) ([]map[string]string, error) {
					return benchRowSet, nil
				}})
			done := make(chan error, 1)
			go func() { done <- srv.Run() }()
			b.Cleanup(func() { srv.Shutdown(context.Background()); <-done })
			c := d.client(b)
			ctx := context.Background()
			waitFor(b, "bench_rows", func() bool {
				r, err := c.Query(ctx, "select count(*) as n from bench_rows")
				return err == nil && r.Status.Code == 0
			})
			b.ResetTimer()
			for b.Loop() {
				r, err := c.Query(ctx, sql)
				if err != nil || r.Status.Code != 0 || !check(r.Response) {
					b.Fatalf("%v %v", err, r.GetStatus())
				}
			}
			report(b)
		}
	}
	b.Run("daemon_select_all", daemonCase("select * from bench_rows", func(r []map[string]string) bool { return len(r) == benchRows }))
	b.Run("daemon_count", daemonCase("select count(*) as n, sum(id) as s from bench_rows", func(r []map[string]string) bool {
		return len(r) == 1 && r[0]["n"] == strconv.Itoa(benchRows)
	}))
	b.Run("inprocess_select_all", func(b *testing.B) {
		reg := table.NewRegistry()
		rows := make([]benchRow, benchRows)
		for i := range rows {
			v, _ := strconv.ParseFloat(benchRowSet[i]["value"], 64)
			rows[i] = benchRow{ID: int64(i), Name: benchRowSet[i]["name"], Value: v}
		}
		def, err := table.New(benchSpec, func(ctx context.Context, q *table.Query, emit func(benchRow)) error {
			for _, r := range rows {
				emit(r)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		reg.Add(def)
		db := inProcessDB(b, reg)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			r, err := db.Query(ctx, "select * from bench_rows")
			if err != nil || len(r.Rows) != benchRows {
				b.Fatal(err)
			}
		}
		report(b)
	})
}
