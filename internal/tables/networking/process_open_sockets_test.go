package networking

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// sockFD returns the descriptor a Go connection uses and its socket inode.
func sockFD(t *testing.T, c syscall.Conn) (int64, uint64) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int64
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(f uintptr) {
		fd = int64(f)
		serr = syscall.Fstat(int(f), &st)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return fd, st.Ino
}

// ownNetNS reads this process's network namespace inode by stat, not by
// parsing the link as the table does.
func ownNetNS(t *testing.T) string {
	t.Helper()
	st, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no namespace links: %v", err)
	}
	return strconv.FormatUint(st.Sys().(*syscall.Stat_t).Ino, 10)
}

// testSockets opens the sockets the live tests look for: a TCP listener
// and a connection to it, a bound UDP socket and a unix listener, all on
// loopback or in a temporary directory.
type testSockets struct {
	tcp, tcpClient, tcpServer, udp, unix syscall.Conn
	tcpPort, udpPort                     int
	unixPath                             string
}

func openTestSockets(t *testing.T) testSockets {
	t.Helper()
	var s testSockets
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.tcp = ln.(*net.TCPListener)
	s.tcpPort = ln.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	s.tcpClient = client.(*net.TCPConn)
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	s.tcpServer = server.(*net.TCPConn)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	s.udp = udp.(*net.UDPConn)
	s.udpPort = udp.LocalAddr().(*net.UDPAddr).Port
	s.unixPath = filepath.Join(t.TempDir(), "gosq test.sock")
	ul, err := net.Listen("unix", s.unixPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ul.Close() })
	s.unix = ul.(*net.UnixListener)
	return s
}

func TestProcessOpenSocketsLive(t *testing.T) {
	s := openTestSockets(t)
	ns := ownNetNS(t)
	pid := strconv.Itoa(os.Getpid())
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from process_open_sockets where pid = "+pid)
	bySocket := map[string]map[string]string{}
	for _, r := range rows {
		if r["pid"] != pid {
			t.Errorf("pid = %s returned a row of pid %s", pid, r["pid"])
		}
		bySocket[r["socket"]] = r
	}
	check := func(name string, c syscall.Conn, want map[string]string) {
		t.Helper()
		fd, ino := sockFD(t, c)
		r, ok := bySocket[strconv.FormatUint(ino, 10)]
		if !ok {
			t.Errorf("%s: socket %d not in %v", name, ino, rows)
			return
		}
		want["fd"] = strconv.FormatInt(fd, 10)
		want["net_namespace"] = ns
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%s: %s = %q, want %q (row %v)", name, k, r[k], v, r)
			}
		}
	}
	port := strconv.Itoa(s.tcpPort)
	check("tcp listener", s.tcp, map[string]string{
		"family": "2", "protocol": "6", "local_address": "127.0.0.1", "local_port": port,
		"remote_address": "0.0.0.0", "remote_port": "0", "state": "LISTEN", "path": "",
	})
	check("tcp client", s.tcpClient, map[string]string{
		"family": "2", "protocol": "6", "remote_address": "127.0.0.1", "remote_port": port, "state": "ESTABLISHED",
	})
	check("tcp server", s.tcpServer, map[string]string{"local_port": port, "state": "ESTABLISHED"})
	check("udp", s.udp, map[string]string{
		"family": "2", "protocol": "17", "local_address": "127.0.0.1", "local_port": strconv.Itoa(s.udpPort),
		"remote_port": "0", "state": "",
	})
	check("unix", s.unix, map[string]string{
		"family": "1", "protocol": "0", "path": s.unixPath, "local_address": "", "local_port": "0", "state": "",
	})

	// Without a pid constraint every process is read: our sockets are
	// still ours, and sockets held by nobody show pid -1.
	all := tabletest.Query(t, tabletest.HostEnv(t), "select pid, fd, socket from process_open_sockets")
	_, ino := sockFD(t, s.tcp)
	found := false
	for _, r := range all {
		if r["socket"] == strconv.FormatUint(ino, 10) {
			found = r["pid"] == pid
		}
		if (r["pid"] == "-1") != (r["fd"] == "-1") {
			t.Errorf("pid and fd disagree on ownership: %v", r)
		}
	}
	if !found {
		t.Errorf("listener %d not found as pid %s in the full table", ino, pid)
	}

	// pid = -1 means "everything", as in osquery; an IN list reads the
	// listed processes only.
	minus := tabletest.Query(t, tabletest.HostEnv(t), "select pid from process_open_sockets where pid in (-1, "+pid+")")
	if len(minus) == 0 {
		t.Error("pid in (-1, self) returned nothing")
	}
	in := tabletest.Query(t, tabletest.HostEnv(t), "select pid from process_open_sockets where pid in (999999999, "+pid+")")
	if len(in) != len(rows) {
		t.Errorf("pid in (missing, self): %d rows, pid = self: %d", len(in), len(rows))
	}
}

// writeFakeProc builds a /proc tree: pids 100 and 200 share namespace 111
// and socket 17506 (200 at a lower fd); pid 300 is alone in namespace 222
// with the unix table; pid 400's namespace link is unreadable and its
// tables repeat 111's plus one UDP socket.
func writeFakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "procfs", "testdata", "net", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mk := func(pid, rel string, data []byte) {
		p := filepath.Join(root, pid, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(pid, rel, target string) {
		p := filepath.Join(root, pid, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link("100", "fd/3", "socket:[17506]")
	link("100", "fd/4", "socket:[17508]")
	link("100", "fd/5", "/dev/null")
	link("100", "ns/net", "net:[111]")
	// Two TIME_WAIT entries: no socket behind them, inode 0.
	timeWait := "   5: 0100007F:96D7 0100007F:AC40 06 00000000:00000000 03:000016A4 00000000     0        0 0 3 0000000000000000\n" +
		"   6: 0100007F:96D7 0100007F:AC42 06 00000000:00000000 03:000016A4 00000000     0        0 0 3 0000000000000000\n"
	mk("100", "net/tcp", append(fixture("tcp"), timeWait...))
	link("200", "fd/9", "socket:[17506]")
	link("200", "ns/net", "net:[111]")
	link("300", "fd/0", "socket:[17522]")
	link("300", "ns/net", "net:[222]")
	mk("300", "net/unix", fixture("unix"))
	link("400", "ns/net", "garbage")
	mk("400", "net/tcp", fixture("tcp"))
	mk("400", "net/udp", fixture("udp"))
	mk("self", "stat", nil) // not a pid: ignored
	return root
}

func TestOpenSocketsCollectFixture(t *testing.T) {
	skipBigEndianDump(t)
	env := tabletest.HostEnv(t)
	env.ProcRoot = writeFakeProc(t)
	q := table.NewQuery(env, &processOpenSocketsSpec)
	socks, err := openSocketsCollect(context.Background(), q, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	byInode := map[uint64]openSocket{}
	timeWait := 0
	for _, s := range socks {
		if s.Inode == 0 {
			timeWait++
			if s.State != "TIME_WAIT" || s.PID != -1 || s.FD != -1 {
				t.Errorf("TIME_WAIT entry = %+v", s)
			}
			continue
		}
		if _, dup := byInode[s.Inode]; dup {
			t.Errorf("socket %d listed twice", s.Inode)
		}
		byInode[s.Inode] = s
	}
	// 5 tcp + 2 TIME_WAIT + 8 unix + 2 udp.
	if len(socks) != 17 || timeWait != 2 {
		t.Errorf("%d sockets with %d TIME_WAIT, want 17 with 2", len(socks), timeWait)
	}
	expect := func(ino uint64, pid, fd int64, ns uint64) {
		t.Helper()
		s, ok := byInode[ino]
		if !ok {
			t.Errorf("socket %d missing", ino)
			return
		}
		if s.PID != pid || s.FD != fd || s.NetNS != ns {
			t.Errorf("socket %d: pid %d fd %d ns %d, want %d %d %d", ino, s.PID, s.FD, s.NetNS, pid, fd, ns)
		}
	}
	expect(17506, 100, 3, 111) // shared with 200: the lowest pid keeps it
	expect(17508, 100, 4, 111)
	expect(17507, -1, -1, 111) // held by no listed process
	expect(17522, 300, 0, 222)
	expect(17515, -1, -1, 0) // only seen through the unknown namespace

	// Filtered to pid 200, whose own /proc/200/net is missing: the
	// namespace cannot be read through it, so nothing is found.
	socks, err = openSocketsCollect(context.Background(), q, []int{200}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 0 {
		t.Errorf("pid 200 without net tables: %+v", socks)
	}
	socks, err = openSocketsCollect(context.Background(), q, []int{200, 100, 100}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 {
		t.Errorf("pids 100, 200: %+v", socks)
	}
	for _, s := range socks {
		if s.PID != 100 {
			t.Errorf("pids 100, 200: %+v", s)
		}
	}

	// Through SQL, on the fixture root.
	rows := tabletest.Query(t, env, "select pid, fd, socket, state, net_namespace from process_open_sockets where pid = 300")
	if len(rows) != 1 || rows[0]["socket"] != "17522" || rows[0]["fd"] != "0" || rows[0]["net_namespace"] != "222" {
		t.Errorf("pid 300 rows: %v", rows)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := openSocketsCollect(ctx, q, nil, false); err == nil {
		t.Error("cancelled collection did not stop")
	}
	env.ProcRoot = filepath.Join(t.TempDir(), "missing")
	if _, err := openSocketsCollect(context.Background(), q, nil, false); err == nil {
		t.Error("a missing /proc did not fail")
	}
}

func TestOpenSocketsPIDs(t *testing.T) {
	env := tabletest.HostEnv(t)
	cases := []struct {
		exprs    []string
		pids     []int
		filtered bool
	}{
		{nil, nil, false},
		{[]string{"5"}, []int{5}, true},
		{[]string{"5", "-1"}, nil, false},
		{[]string{"0", "-7", "99999999999"}, nil, true},
		{[]string{"abc"}, nil, false},
	}
	for _, c := range cases {
		q := table.NewQuery(env, &processOpenSocketsSpec)
		for _, e := range c.exprs {
			q.AddNamed("pid", table.Constraint{Op: table.OpEq, Expr: e})
		}
		pids, filtered := openSocketsPIDs(q)
		if filtered != c.filtered || len(pids) != len(c.pids) || (len(pids) > 0 && pids[0] != c.pids[0]) {
			t.Errorf("%v: %v %v, want %v %v", c.exprs, pids, filtered, c.pids, c.filtered)
		}
	}
}
