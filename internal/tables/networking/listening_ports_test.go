package networking

import (
	"os"
	"strconv"
	"testing"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestListeningPortsLive(t *testing.T) {
	s := openTestSockets(t)
	ns := ownNetNS(t)
	pid := strconv.Itoa(os.Getpid())
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from listening_ports where pid = "+pid)
	byFD := map[string]map[string]string{}
	for _, r := range rows {
		byFD[r["fd"]] = r
	}
	check := func(name string, fd int64, want map[string]string) {
		t.Helper()
		r, ok := byFD[strconv.FormatInt(fd, 10)]
		if !ok {
			t.Errorf("%s: fd %d not in %v", name, fd, rows)
			return
		}
		want["pid"] = pid
		want["net_namespace"] = ns
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%s: %s = %q, want %q (row %v)", name, k, r[k], v, r)
			}
		}
	}
	fd, ino := sockFD(t, s.tcp)
	check("tcp", fd, map[string]string{
		"port": strconv.Itoa(s.tcpPort), "protocol": "6", "family": "2", "address": "127.0.0.1",
		"socket": strconv.FormatUint(ino, 10), "path": "",
	})
	fd, ino = sockFD(t, s.udp)
	check("udp", fd, map[string]string{
		"port": strconv.Itoa(s.udpPort), "protocol": "17", "family": "2", "address": "127.0.0.1",
		"socket": strconv.FormatUint(ino, 10),
	})
	fd, _ = sockFD(t, s.unix)
	// osquery reports unix sockets with port and socket 0.
	check("unix", fd, map[string]string{"port": "0", "protocol": "0", "family": "1", "address": "", "socket": "0", "path": s.unixPath})
	// Connected TCP sockets do not listen.
	for _, c := range []struct {
		name string
		fd   int64
	}{{"client", mustFD(t, s, true)}, {"server", mustFD(t, s, false)}} {
		if r, ok := byFD[strconv.FormatInt(c.fd, 10)]; ok {
			t.Errorf("connected %s socket listed: %v", c.name, r)
		}
	}
}

func mustFD(t *testing.T, s testSockets, client bool) int64 {
	t.Helper()
	c := s.tcpServer
	if client {
		c = s.tcpClient
	}
	fd, _ := sockFD(t, c)
	return fd
}

func TestListeningPortFromSocket(t *testing.T) {
	base := func(ns procfs.NetSocket) openSocket { return openSocket{NetSocket: ns, PID: 7, FD: 3, NetNS: 42} }
	cases := []struct {
		name string
		in   procfs.NetSocket
		ok   bool
		want listeningPortRow
	}{
		{"tcp listen", procfs.NetSocket{Family: 2, Protocol: 6, LocalAddress: "0.0.0.0", LocalPort: 22, RemoteAddress: "0.0.0.0", Inode: 9, State: "LISTEN"}, true,
			listeningPortRow{PID: 7, Port: 22, Protocol: 6, Family: 2, Address: "0.0.0.0", FD: 3, Socket: 9, NetNamespace: "42"}},
		{"tcp established", procfs.NetSocket{Family: 2, Protocol: 6, LocalPort: 22, RemotePort: 5555, Inode: 9}, false, listeningPortRow{}},
		{"udp6 bound", procfs.NetSocket{Family: 10, Protocol: 17, LocalAddress: "::", LocalPort: 53, RemoteAddress: "::", Inode: 8}, true,
			listeningPortRow{PID: 7, Port: 53, Protocol: 17, Family: 10, Address: "::", FD: 3, Socket: 8, NetNamespace: "42"}},
		{"unix named", procfs.NetSocket{Family: 1, Path: "/run/x.sock", Inode: 5}, true,
			listeningPortRow{PID: 7, Family: 1, FD: 3, Path: "/run/x.sock", NetNamespace: "42"}},
		{"unix unnamed", procfs.NetSocket{Family: 1, Inode: 5}, false, listeningPortRow{}},
		{"packet", procfs.NetSocket{Family: 17, Protocol: 3, Inode: 4, State: "NONE"}, true,
			listeningPortRow{PID: 7, Protocol: 3, Family: 17, FD: 3, Socket: 4, NetNamespace: "42"}},
	}
	for _, c := range cases {
		got, ok := listeningPortFromSocket(base(c.in))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestListeningPortsFixture(t *testing.T) {
	skipBigEndianDump(t)
	env := tabletest.HostEnv(t)
	env.ProcRoot = writeFakeProc(t)
	rows := tabletest.Query(t, env, "select * from listening_ports order by socket, path")
	// tcp: 1062 and 17506 listen, the rest are connections; udp: 17515
	// is bound, 17516 connected; unix: the three named sockets.
	var got []string
	for _, r := range rows {
		got = append(got, r["pid"]+"/"+r["fd"]+"/"+r["socket"]+"/"+r["port"]+"/"+r["path"])
	}
	want := []string{
		"300/0/0/0//tmp/gosq test (sock).sock",
		"-1/-1/0/0//tmp/gosq test (sock).sock",
		"-1/-1/0/0/@gosq-abstract",
		"-1/-1/1062/2024/",
		"-1/-1/17515/54181/",
		"100/3/17506/38615/",
	}
	if len(got) != len(want) {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		if seen[w] == 0 {
			t.Errorf("missing %q in %q", w, got)
		}
		seen[w]--
	}
}
