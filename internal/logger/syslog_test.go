package logger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
)

// syslogListener is a syslog daemon's /dev/log in miniature: a unix
// datagram socket the test reads whole messages from.
type syslogListener struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func listenSyslog(t *testing.T, path string) *syslogListener {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	l := &syslogListener{t: t, path: path, conn: c}
	t.Cleanup(l.close)
	return l
}

// close stops the daemon: the socket goes away, as when syslogd exits.
func (l *syslogListener) close() {
	l.conn.Close()
	os.Remove(l.path)
}

func (l *syslogListener) recv() string {
	l.t.Helper()
	buf := make([]byte, 1<<20)
	l.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.conn.Read(buf)
	if err != nil {
		l.t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

func (l *syslogListener) expectNothing() {
	l.t.Helper()
	buf := make([]byte, 1<<20)
	l.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := l.conn.Read(buf); err == nil {
		l.t.Fatalf("unexpected datagram %q", buf[:n])
	}
}

// syslogClock is 6 January 2025 09:04:05 in UTC: a one-digit day, which
// glibc's %e pads with a space.
var syslogClock = time.Date(2025, 1, 6, 9, 4, 5, 999, time.UTC)

func newTestSyslog(t *testing.T, path string, opts SyslogOptions) *Syslog {
	t.Helper()
	opts.Socket = path
	s, err := NewSyslog(Config{Pid: 4242, Now: func() time.Time { return syslogClock }}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// socketPath is a socket name short enough for sun_path (108 bytes),
// which t.TempDir under a long test name may exceed.
func socketPath(t *testing.T, name string) string {
	dir := t.TempDir()
	if len(dir)+len(name) > 100 {
		var err error
		if dir, err = os.MkdirTemp("", "sl"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, name)
}

// TestSyslogFraming checks the exact bytes against what glibc 2.36's
// syslog(3) sent for openlog("osqueryd", LOG_PID|LOG_CONS, LOG_LOCAL3)
// (captured from Python's syslog module on a socket at /dev/log in a
// private mount namespace): `<158>Dec  3 14:52:12 osqueryd[17224]: {"a":1}`,
// one datagram, no newline, message cut at a NUL.
func TestSyslogFraming(t *testing.T) {
	ctx := context.Background()
	l := listenSyslog(t, socketPath(t, "log"))
	s := newTestSyslog(t, l.path, DefaultSyslogOptions())
	if s.Name() != "syslog" {
		t.Fatal(s.Name())
	}

	check := func(want string) {
		t.Helper()
		if got := l.recv(); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	if err := s.LogResult(ctx, []byte(`{"name":"q","action":"added"}`)); err != nil {
		t.Fatal(err)
	}
	check(`<158>Jan  6 09:04:05 osqueryd[4242]: {"name":"q","action":"added"}`)
	if err := s.LogSnapshot(ctx, []byte(`{"snapshot":[]}`)); err != nil {
		t.Fatal(err)
	}
	check(`<158>Jan  6 09:04:05 osqueryd[4242]: {"snapshot":[]}`)

	// Statuses: osquery's severity map, one datagram each, the message
	// as is (newline kept, cut at NUL as "%s" does).
	err := s.LogStatus(ctx, []logging.Status{
		{Severity: logging.Info, File: "scheduler.cpp", Line: 84, Message: "started"},
		{Severity: logging.Warning, File: "w.go", Line: 2, Message: "two\nlines"},
		{Severity: logging.Error, File: "e.go", Line: 3, Message: "bad\x00hidden"},
		{Severity: logging.Fatal, File: "f.go", Line: 4, Message: "fatal"},
		{Severity: 9, File: "u.go", Line: 5, Message: "unknown"},
	})
	if err != nil {
		t.Fatal(err)
	}
	check("<157>Jan  6 09:04:05 osqueryd[4242]: severity=0 location=scheduler.cpp:84 message=started")
	check("<156>Jan  6 09:04:05 osqueryd[4242]: severity=1 location=w.go:2 message=two\nlines")
	check("<155>Jan  6 09:04:05 osqueryd[4242]: severity=2 location=e.go:3 message=bad")
	check("<154>Jan  6 09:04:05 osqueryd[4242]: severity=3 location=f.go:4 message=fatal")
	check("<157>Jan  6 09:04:05 osqueryd[4242]: severity=9 location=u.go:5 message=unknown")
	if err := s.LogStatus(ctx, nil); err != nil {
		t.Fatal(err)
	}
	l.expectNothing()
}

func TestSyslogFacilityAndCEE(t *testing.T) {
	ctx := context.Background()
	l := listenSyslog(t, socketPath(t, "log"))
	st := []logging.Status{{Severity: logging.Warning, File: "a.go", Line: 1, Message: "m"}}
	for _, tc := range []struct {
		facility int
		cee      bool
		result   string
		status   string
	}{
		{0, false, `<6>Jan  6 09:04:05 osqueryd[4242]: {}`, `<4>Jan  6 09:04:05 osqueryd[4242]: severity=1 location=a.go:1 message=m`},
		{23, true, `<190>Jan  6 09:04:05 osqueryd[4242]: @cee:{}`, `<188>Jan  6 09:04:05 osqueryd[4242]: severity=1 location=a.go:1 message=m`},
		// Out of range: osquery falls back to local3.
		{24, false, `<158>Jan  6 09:04:05 osqueryd[4242]: {}`, `<156>Jan  6 09:04:05 osqueryd[4242]: severity=1 location=a.go:1 message=m`},
		{-1, true, `<158>Jan  6 09:04:05 osqueryd[4242]: @cee:{}`, `<156>Jan  6 09:04:05 osqueryd[4242]: severity=1 location=a.go:1 message=m`},
	} {
		s := newTestSyslog(t, l.path, SyslogOptions{Facility: tc.facility, PrependCEE: tc.cee})
		if err := s.LogResult(ctx, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if got := l.recv(); got != tc.result {
			t.Errorf("facility %d cee %v: result %q, want %q", tc.facility, tc.cee, got, tc.result)
		}
		// The cee cookie marks JSON, which status lines are not.
		if err := s.LogStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		if got := l.recv(); got != tc.status {
			t.Errorf("facility %d cee %v: status %q, want %q", tc.facility, tc.cee, got, tc.status)
		}
	}
}

func TestSyslogOptionsFromFlags(t *testing.T) {
	fs := flags.Standard()
	if o := SyslogOptionsFromFlags(fs); o != DefaultSyslogOptions() || o.Facility != 19 || o.PrependCEE || o.Socket != "/dev/log" {
		t.Fatalf("defaults %+v", o)
	}
	if err := fs.Set("logger_syslog_facility", "4"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Set("logger_syslog_prepend_cee", "true"); err != nil {
		t.Fatal(err)
	}
	o := SyslogOptionsFromFlags(fs)
	if o.Facility != 4 || !o.PrependCEE {
		t.Fatalf("%+v", o)
	}
	l := listenSyslog(t, socketPath(t, "log"))
	o.Socket = l.path
	p, err := SyslogFactory(o)(Config{Pid: 7, ProgramName: "osqueryi", Now: func() time.Time { return time.Date(2025, 12, 13, 23, 59, 1, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.LogResult(context.Background(), []byte(`{"x":"y"}`)); err != nil {
		t.Fatal(err)
	}
	if got, want := l.recv(), `<38>Dec 13 23:59:01 osqueryi[7]: @cee:{"x":"y"}`; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestSyslogRegistered builds the plugin the way --logger_plugin=syslog
// does. It only constructs it: sending would write to this host's real
// syslog.
func TestSyslogRegistered(t *testing.T) {
	p, err := New("syslog", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, ok := p.(*Syslog)
	if !ok || s.Name() != "syslog" || s.path != "/dev/log" || s.facility != 19 || s.cee || s.ident != "osqueryd" || s.pid != os.Getpid() {
		t.Fatalf("%T %+v", p, p)
	}
	if s.conn != nil {
		t.Fatal("connected before the first message")
	}
}

func TestSyslogMissingSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nothing-here")
	s := newTestSyslog(t, path, DefaultSyslogOptions())
	for i := 0; i < 2; i++ {
		err := s.LogResult(context.Background(), []byte(`{}`))
		if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "is a syslog daemon running?") {
			t.Fatalf("%v", err)
		}
	}
	err := s.LogStatus(context.Background(), []logging.Status{{Message: "a"}, {Message: "b"}})
	if err == nil || !strings.HasPrefix(err.Error(), "2 of 2 status lines not logged: ") || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("%v", err)
	}
	// A regular file where the socket should be.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.LogResult(context.Background(), []byte(`{}`)); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%v", err)
	}
}

// TestSyslogReconnect restarts the daemon under the plugin, with and
// without a message in between, as glibc's reopen-and-retry handles it.
func TestSyslogReconnect(t *testing.T) {
	ctx := context.Background()
	path := socketPath(t, "log")
	l := listenSyslog(t, path)
	s := newTestSyslog(t, path, DefaultSyslogOptions())
	if err := s.LogResult(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); !strings.HasSuffix(got, ": one") {
		t.Fatal(got)
	}

	// The daemon goes away: a clear error, nothing panics.
	l.close()
	err := s.LogResult(ctx, []byte("lost"))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("daemon down: %v", err)
	}

	// It comes back: the next message reconnects.
	l = listenSyslog(t, path)
	if err := s.LogResult(ctx, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); !strings.HasSuffix(got, ": two") {
		t.Fatal(got)
	}

	// It restarts between two messages: the send on the stale
	// connection fails, and the plugin reconnects and resends at once.
	l.close()
	l = listenSyslog(t, path)
	if err := s.LogResult(ctx, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); !strings.HasSuffix(got, ": three") {
		t.Fatal(got)
	}
	l.expectNothing()
}

// TestSyslogStream covers a daemon listening on a stream socket, which
// glibc falls back to on EPROTOTYPE and terminates each message with a
// NUL (checked against glibc 2.36 as TestSyslogFraming).
func TestSyslogStream(t *testing.T) {
	path := socketPath(t, "log")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var all []byte
		buf := make([]byte, 4096)
		for bytes.Count(all, []byte{0}) < 2 {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(all)
	}()
	s := newTestSyslog(t, path, DefaultSyslogOptions())
	if err := s.LogResult(context.Background(), []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.LogStatus(context.Background(), []logging.Status{{Severity: logging.Error, File: "f", Line: 1, Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	want := "<158>Jan  6 09:04:05 osqueryd[4242]: {\"a\":1}\x00<155>Jan  6 09:04:05 osqueryd[4242]: severity=2 location=f:1 message=m\x00"
	if g := <-got; g != want {
		t.Fatalf("got %q want %q", g, want)
	}
}

// TestSyslogLongLine: a line the kernel would refuse as one datagram
// (glibc drops it) arrives as its head; one under the limit arrives whole.
func TestSyslogLongLine(t *testing.T) {
	ctx := context.Background()
	l := listenSyslog(t, socketPath(t, "log"))
	s := newTestSyslog(t, l.path, DefaultSyslogOptions())
	header := "<158>Jan  6 09:04:05 osqueryd[4242]: "

	whole := bytes.Repeat([]byte("a"), 100<<10)
	if err := s.LogResult(ctx, whole); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); got != header+string(whole) {
		t.Fatalf("100 KiB line: %d bytes arrived", len(got))
	}

	// Multi-byte runes, so a careless cut would leave broken UTF-8.
	huge := []byte(`{"v":"` + strings.Repeat("é", 4<<20) + `"}`)
	if err := s.LogResult(ctx, huge); err != nil {
		t.Fatal(err)
	}
	got := l.recv()
	if !strings.HasPrefix(got, header+`{"v":"éé`) || len(got) >= len(header)+len(huge) || len(got) < 64<<10 {
		t.Fatalf("huge line: %d bytes, starts %q", len(got), got[:min(len(got), 60)])
	}
	if !strings.HasSuffix(got, "é") {
		t.Fatalf("cut inside a rune: ends %q", got[len(got)-4:])
	}
	// The connection is still good.
	if err := s.LogResult(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); got != header+"after" {
		t.Fatal(got)
	}
}

func TestCutUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
		{"a😀b", 4, "a"},
		{"a😀b", 5, "a😀"},
		{"\x80\x80\x80\x80\x80\x80", 3, "\x80\x80\x80"},
	} {
		if got := string(cutUTF8([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("cutUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestSyslogStuckDaemon: a daemon that stops reading fills its queue
// (net.unix.max_dgram_qlen); sends then time out instead of blocking, and
// a status batch gives up after the first timeout rather than paying it
// per line.
func TestSyslogStuckDaemon(t *testing.T) {
	ctx := context.Background()
	l := listenSyslog(t, socketPath(t, "log"))
	s := newTestSyslog(t, l.path, SyslogOptions{Facility: 19, WriteTimeout: 100 * time.Millisecond})
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = s.LogResult(ctx, []byte("fill"))
	}
	if !isTimeout(err) {
		t.Fatalf("queue never filled: %v", err)
	}
	statuses := make([]logging.Status, 50)
	sends := s.sends
	err = s.LogStatus(ctx, statuses)
	if !isTimeout(err) || !strings.HasPrefix(err.Error(), "50 of 50 status lines not logged: ") {
		t.Fatalf("%v", err)
	}
	if n := s.sends - sends; n != 1 {
		t.Fatalf("%d sends for a batch on a stuck daemon, want 1", n)
	}
	// A context deadline shorter than the timeout wins.
	s.timeout = time.Hour
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.LogResult(dctx, []byte("x")); !isTimeout(err) {
		t.Fatalf("%v", err)
	}
	// The daemon drains its queue: logging works again.
	s.timeout = time.Second
	for {
		buf := make([]byte, 100)
		l.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := l.conn.Read(buf); err != nil {
			break
		}
	}
	if err := s.LogResult(ctx, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(); !strings.HasSuffix(got, ": again") {
		t.Fatal(got)
	}
}

func TestSyslogContextAndClose(t *testing.T) {
	l := listenSyslog(t, socketPath(t, "log"))
	s := newTestSyslog(t, l.path, DefaultSyslogOptions())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.LogResult(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := s.LogStatus(ctx, []logging.Status{{}, {}}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	l.expectNothing()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.LogResult(context.Background(), []byte("x")); !errors.Is(err, errClosed) {
		t.Fatal(err)
	}
	l.expectNothing()
}

// TestSyslogConcurrent: many writers, every message one whole datagram.
func TestSyslogConcurrent(t *testing.T) {
	l := listenSyslog(t, socketPath(t, "log"))
	s := newTestSyslog(t, l.path, DefaultSyslogOptions())
	const writers, each = 8, 50
	got := make(map[string]bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for len(got) < writers*each {
			l.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := l.conn.Read(buf)
			if err != nil {
				return
			}
			got[string(buf[:n])] = true
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var err error
				if i%2 == 0 {
					err = s.LogResult(context.Background(), []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
				} else {
					err = s.LogStatus(context.Background(), []logging.Status{{Message: fmt.Sprintf("w%d i%d", w, i)}})
				}
				if err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	<-done
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			want := fmt.Sprintf(`<158>Jan  6 09:04:05 osqueryd[4242]: {"w":%d,"i":%d}`, w, i)
			if i%2 == 1 {
				want = fmt.Sprintf(`<157>Jan  6 09:04:05 osqueryd[4242]: severity=0 location=:0 message=w%d i%d`, w, i)
			}
			if !got[want] {
				t.Fatalf("missing %q (%d received)", want, len(got))
			}
		}
	}
}

// rsyslogd runs Debian's rsyslog with a configuration of the test's own:
// it listens on sock (not /dev/log) and writes every message as
// "facility severity programname procid cee-field|msg" to the output file.
type rsyslogd struct {
	t    *testing.T
	bin  string
	dir  string
	conf string
	sock string
	out  string
	cmd  *exec.Cmd
}

func startRsyslog(t *testing.T) *rsyslogd {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		bin = "/usr/sbin/rsyslogd"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("needs rsyslogd (Debian package rsyslog)")
		}
	}
	dir, err := os.MkdirTemp("", "rsyslog")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &rsyslogd{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "log.sock"), out: filepath.Join(dir, "out.log"), conf: filepath.Join(dir, "rsyslog.conf")}
	conf := `global(workDirectory="` + dir + `" maxMessageSize="256k")
module(load="imuxsock" SysSock.Use="off")
module(load="mmjsonparse")
input(type="imuxsock" Socket="` + r.sock + `" RateLimit.Interval="0")
template(name="fields" type="string" string="%syslogfacility% %syslogseverity% %programname% %procid% %$!cee_field%|%msg%\n")
action(type="mmjsonparse")
action(type="omfile" file="` + r.out + `" template="fields")
`
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start()
	return r
}

func (r *rsyslogd) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	r.t.Cleanup(r.stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := os.Stat(r.sock); err == nil && st.Mode()&os.ModeSocket != 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd did not create %s: %s", r.sock, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rsyslogd) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// lines waits until the output holds n lines from programname prog.
func (r *rsyslogd) lines(prog string, n int) []string {
	r.t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = got[:0]
		if f, err := os.Open(r.out); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) > 2 && f[2] == prog {
					got = append(got, sc.Text())
				}
			}
			f.Close()
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyslogRsyslog sends through a real rsyslogd and reads back what it
// parsed: facility and severity from the PRI, program name and pid from
// the tag, the message, and the cee JSON through mmjsonparse.
func TestSyslogRsyslog(t *testing.T) {
	r := startRsyslog(t)
	ctx := context.Background()
	pid := 31337
	newPlugin := func(opts SyslogOptions) *Syslog {
		opts.Socket = r.sock
		s, err := NewSyslog(Config{Pid: pid}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	def := newPlugin(DefaultSyslogOptions())
	if err := def.LogResult(ctx, []byte(`{"name":"pack_a_q","cee_field":"plain"}`)); err != nil {
		t.Fatal(err)
	}
	err := def.LogStatus(ctx, []logging.Status{
		{Severity: logging.Info, File: "scheduler.cpp", Line: 84, Message: "info"},
		{Severity: logging.Warning, File: "w.cpp", Line: 2, Message: "warning"},
		{Severity: logging.Error, File: "e.cpp", Line: 3, Message: "error"},
		{Severity: logging.Fatal, File: "f.cpp", Line: 4, Message: "fatal"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := flags.Standard()
	fs.Set("logger_syslog_facility", "4")
	fs.Set("logger_syslog_prepend_cee", "true")
	cee := newPlugin(SyslogOptionsFromFlags(fs))
	if err := cee.LogResult(ctx, []byte(`{"name":"q2","cee_field":"parsed"}`)); err != nil {
		t.Fatal(err)
	}
	big := `{"cee_field":"big","pad":"` + strings.Repeat("x", 64<<10) + `"}`
	if err := cee.LogSnapshot(ctx, []byte(big)); err != nil {
		t.Fatal(err)
	}

	p := strconv.Itoa(pid)
	want := []string{
		// mmjsonparse leaves a message without the cookie unparsed.
		"19 6 osqueryd " + p + " |" + `{"name":"pack_a_q","cee_field":"plain"}`,
		"19 5 osqueryd " + p + " |severity=0 location=scheduler.cpp:84 message=info",
		"19 4 osqueryd " + p + " |severity=1 location=w.cpp:2 message=warning",
		"19 3 osqueryd " + p + " |severity=2 location=e.cpp:3 message=error",
		"19 2 osqueryd " + p + " |severity=3 location=f.cpp:4 message=fatal",
		"4 6 osqueryd " + p + " parsed|" + `@cee:{"name":"q2","cee_field":"parsed"}`,
		"4 6 osqueryd " + p + " big|@cee:" + big,
	}
	check := func(got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("rsyslog wrote %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
		}
		for i := range want {
			// RFC 3164 leaves the space after the tag in the message.
			if g := strings.Replace(got[i], "| ", "|", 1); g != want[i] {
				t.Errorf("line %d:\ngot  %.200q\nwant %.200q", i, g, want[i])
			}
		}
	}
	check(r.lines("osqueryd", len(want)), want)

	// rsyslogd restarts: while it is down logging fails with an error
	// naming the socket; once it is back the plugin reconnects.
	r.stop()
	if err := def.LogResult(ctx, []byte(`{"while":"down"}`)); err == nil || !strings.Contains(err.Error(), r.sock) {
		t.Fatalf("rsyslogd stopped: %v", err)
	}
	r.start()
	if err := def.LogResult(ctx, []byte(`{"after":"restart"}`)); err != nil {
		t.Fatal(err)
	}
	want = append(want, "19 6 osqueryd "+p+" |"+`{"after":"restart"}`)
	check(r.lines("osqueryd", len(want)), want)
}

// --logger_plugin=syslog takes the facility and cee prefix from the flags.
func TestSyslogFromFlags(t *testing.T) {
	fl := flags.Standard()
	if _, err := fl.Parse([]string{"--logger_plugin=syslog", "--logger_syslog_facility=4", "--logger_syslog_prepend_cee"}); err != nil {
		t.Fatal(err)
	}
	p, err := FromFlags(fl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, ok := p.(*Syslog)
	if !ok || s.facility != 4 || !s.cee {
		t.Fatalf("plugin %T %+v", p, p)
	}
}
