package procfs

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func readNetFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "net", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findInode(t *testing.T, socks []NetSocket, ino uint64) NetSocket {
	t.Helper()
	for _, s := range socks {
		if s.Inode == ino {
			return s
		}
	}
	t.Fatalf("no socket with inode %d in %+v", ino, socks)
	return NetSocket{}
}

// The fixtures were captured on a little-endian host; the hex words decode
// differently on a big-endian one.
func skipBigEndian(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("fixtures are little-endian")
	}
}

func TestParseNetInetTCP(t *testing.T) {
	skipBigEndian(t)
	socks := ParseNetInet(readNetFixture(t, "tcp"), AFInet, ProtoTCP)
	if len(socks) != 5 {
		t.Fatalf("got %d sockets, want 5: %+v", len(socks), socks)
	}
	l := findInode(t, socks, 17506)
	want := NetSocket{Family: AFInet, Protocol: ProtoTCP, LocalAddress: "127.0.0.1", LocalPort: 0x96D7, RemoteAddress: "0.0.0.0", RemotePort: 0, Inode: 17506, State: "LISTEN"}
	if l != want {
		t.Errorf("listener = %+v, want %+v", l, want)
	}
	e := findInode(t, socks, 17507)
	if e.State != "ESTABLISHED" || e.LocalPort != 0xAC38 || e.RemoteAddress != "127.0.0.1" || e.RemotePort != 0x96D7 {
		t.Errorf("established = %+v", e)
	}
	if any := findInode(t, socks, 1062); any.LocalAddress != "0.0.0.0" || any.LocalPort != 2024 {
		t.Errorf("wildcard listener = %+v", any)
	}
}

func TestParseNetInetTCP6(t *testing.T) {
	skipBigEndian(t)
	socks := ParseNetInet(readNetFixture(t, "tcp6"), AFInet6, ProtoTCP)
	if len(socks) != 5 {
		t.Fatalf("got %d sockets, want 5", len(socks))
	}
	cases := []struct {
		ino            uint64
		local, remote  string
		lport, rport   int
		state          string
		familyExpected int
	}{
		{17512, "::", "::", 0xECA9, 0, "LISTEN", AFInet6},
		{17509, "::1", "::", 0xA7B7, 0, "LISTEN", AFInet6},
		// An IPv4 client of a dual-stack listener shows as v4-mapped.
		{17514, "::ffff:127.0.0.1", "::ffff:127.0.0.1", 0xECA9, 0x9D94, "ESTABLISHED", AFInet6},
		{17510, "::1", "::1", 0xCF22, 0xA7B7, "ESTABLISHED", AFInet6},
	}
	for _, c := range cases {
		s := findInode(t, socks, c.ino)
		if s.LocalAddress != c.local || s.RemoteAddress != c.remote || s.LocalPort != c.lport || s.RemotePort != c.rport || s.State != c.state || s.Family != c.familyExpected {
			t.Errorf("inode %d = %+v, want %s:%d -> %s:%d %s", c.ino, s, c.local, c.lport, c.remote, c.rport, c.state)
		}
	}
}

func TestParseNetInetUDPAndRaw(t *testing.T) {
	skipBigEndian(t)
	udp := ParseNetInet(readNetFixture(t, "udp"), AFInet, ProtoUDP)
	if len(udp) != 2 {
		t.Fatalf("udp: %d sockets", len(udp))
	}
	bound := findInode(t, udp, 17515)
	if bound.LocalAddress != "127.0.0.1" || bound.LocalPort != 0xD3A5 || bound.RemotePort != 0 || bound.State != "" {
		t.Errorf("bound udp = %+v (UDP has no state in osquery)", bound)
	}
	if c := findInode(t, udp, 17516); c.RemotePort != 0xD3A5 {
		t.Errorf("connected udp = %+v", c)
	}
	udp6 := ParseNetInet(readNetFixture(t, "udp6"), AFInet6, ProtoUDP)
	if len(udp6) != 1 || udp6[0].LocalAddress != "::" || udp6[0].LocalPort != 0xD198 {
		t.Errorf("udp6 = %+v", udp6)
	}
	raw := ParseNetInet(readNetFixture(t, "raw"), AFInet, ProtoRaw)
	// The "port" of a raw socket is its protocol (1, ICMP); osquery shows
	// it as the local port.
	if len(raw) != 1 || raw[0].LocalPort != 1 || raw[0].Protocol != ProtoRaw || raw[0].Inode != 17518 {
		t.Errorf("raw = %+v", raw)
	}
	raw6 := ParseNetInet(readNetFixture(t, "raw6"), AFInet6, ProtoRaw)
	if len(raw6) != 1 || raw6[0].LocalPort != 58 {
		t.Errorf("raw6 = %+v", raw6)
	}
}

func TestParseNetInetHostile(t *testing.T) {
	skipBigEndian(t)
	socks := ParseNetInet(readNetFixture(t, "tcp_hostile"), AFInet, ProtoTCP)
	got := map[uint64]NetSocket{}
	for _, s := range socks {
		got[s.Inode] = s
	}
	// 17506 is well formed; 5 has an unknown state code; max uint64 inode
	// parses. Truncated lines, short addresses, non-hex and non-UTF-8
	// addresses and an inode past uint64 are skipped.
	if len(socks) != 3 {
		t.Fatalf("got %d sockets, want 3: %+v", len(socks), socks)
	}
	if got[17506].State != "LISTEN" {
		t.Errorf("17506 = %+v", got[17506])
	}
	if s := got[18446744073709551615]; s.State != "UNKNOWN" {
		t.Errorf("bad state code = %+v", s)
	}
	if s := got[5]; s.LocalPort != 65535 || s.RemoteAddress != "127.0.0.2" || s.RemotePort != 1 || s.State != "CLOSING" {
		t.Errorf("line 8 = %+v", s)
	}
	if n := len(ParseNetInet(nil, AFInet, ProtoTCP)); n != 0 {
		t.Errorf("empty input gave %d sockets", n)
	}
	if n := len(ParseNetInet(readNetFixture(t, "tcp"), AFUnix, ProtoTCP)); n != 0 {
		t.Errorf("unknown family gave %d sockets", n)
	}
}

func TestParseNetUnix(t *testing.T) {
	socks := ParseNetUnix(readNetFixture(t, "unix"))
	if len(socks) != 8 {
		t.Fatalf("got %d sockets, want 8", len(socks))
	}
	if s := findInode(t, socks, 17522); s.Path != "/tmp/gosq test (sock).sock" || s.Family != AFUnix || s.Protocol != 0 || s.State != "" {
		t.Errorf("listening unix socket = %+v", s)
	}
	if s := findInode(t, socks, 17525); s.Path != "@gosq-abstract" {
		t.Errorf("abstract socket = %+v", s)
	}
	if s := findInode(t, socks, 1059); s.Path != "" {
		t.Errorf("unnamed socket = %+v", s)
	}

	hostile := ParseNetUnix(readNetFixture(t, "unix_hostile"))
	paths := map[uint64]string{}
	for _, s := range hostile {
		paths[s.Inode] = s.Path
	}
	want := map[uint64]string{
		17522: "/tmp/a (b) c.sock",
		17530: "/tmp/\xff\xfe-bin",
		17531: " /leading-space",
		17532: "",
	}
	if len(paths) != len(want) {
		t.Errorf("hostile unix: got %v, want %v", paths, want)
	}
	for ino, p := range want {
		if paths[ino] != p {
			t.Errorf("inode %d path %q, want %q", ino, paths[ino], p)
		}
	}
}

func TestParseNetPacket(t *testing.T) {
	socks := ParseNetPacket(readNetFixture(t, "packet"))
	if len(socks) != 2 {
		t.Fatalf("got %d sockets", len(socks))
	}
	if s := findInode(t, socks, 17520); s.Protocol != 3 || s.Family != AFPacket || s.State != "NONE" {
		t.Errorf("ETH_P_ALL socket = %+v", s)
	}
	if s := findInode(t, socks, 17521); s.Protocol != 0x0800 {
		t.Errorf("ETH_P_IP socket = %+v", s)
	}
}

func TestFormatIP(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"::", "::"},
		{"::1", "::1"},
		{"fe80::fc:ff:fe00:1", "fe80::fc:ff:fe00:1"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, // one zero word stays
		{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},          // the longest run is compressed
		{"ffff:ffff:ffff:ffff::", "ffff:ffff:ffff:ffff::"},
	}
	for _, c := range cases {
		ip := net.ParseIP(c.in)
		b := []byte(ip.To16())
		if v4 := ip.To4(); v4 != nil && !strings.Contains(c.in, ":") {
			b = v4
		}
		if got := FormatIP(b); got != c.want {
			t.Errorf("FormatIP(%s) = %q, want %q", c.in, got, c.want)
		}
	}
	// glibc prints the deprecated IPv4-compatible form with a dotted tail.
	if got := FormatIP([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3}); got != "::10.1.2.3" {
		t.Errorf("IPv4-compatible = %q", got)
	}
	if got := FormatIP([]byte{1, 2, 3}); got != "" {
		t.Errorf("3 bytes = %q", got)
	}
}

func TestTCPState(t *testing.T) {
	for code, want := range map[string]string{"01": "ESTABLISHED", "0A": "LISTEN", "07": "CLOSED", "0B": "CLOSING", "00": "UNKNOWN", "0C": "UNKNOWN", "zz": "UNKNOWN", "": "UNKNOWN", "1FF": "UNKNOWN"} {
		if got := TCPState(code); got != want {
			t.Errorf("TCPState(%q) = %q, want %q", code, got, want)
		}
	}
}

// TestNetSocketsLive opens sockets and checks that the live /proc tables,
// read through this package, show them with the kernel's own port numbers.
func TestNetSocketsLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln6.Close()

	inodeOf := func(c syscall.Conn) uint64 {
		t.Helper()
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		return st.Ino
	}
	fs := New("/proc")
	socks, err := fs.NetSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, ino uint64, family, proto, port int, addr, state string) {
		t.Helper()
		s := findInode(t, socks, ino)
		if s.Family != family || s.Protocol != proto || s.LocalPort != port || s.LocalAddress != addr || s.State != state {
			t.Errorf("%s: %+v, want family %d proto %d %s:%d %s", name, s, family, proto, addr, port, state)
		}
	}
	check("tcp", inodeOf(ln.(*net.TCPListener)), AFInet, ProtoTCP, ln.Addr().(*net.TCPAddr).Port, "127.0.0.1", "LISTEN")
	check("tcp6", inodeOf(ln6.(*net.TCPListener)), AFInet6, ProtoTCP, ln6.Addr().(*net.TCPAddr).Port, "::1", "LISTEN")
	check("udp", inodeOf(udp.(*net.UDPConn)), AFInet, ProtoUDP, udp.LocalAddr().(*net.UDPAddr).Port, "127.0.0.1", "")

	// The same socket is found from this process's descriptors.
	fds, err := fs.FDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := inodeOf(ln.(*net.TCPListener))
	found := false
	for _, fd := range fds {
		if ino, ok := SocketInode(fd.Link); ok && ino == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no fd links to socket:[%d] in %+v", want, fds)
	}
}

func TestNetTableLongLines(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := "   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42 1"
	content := "header\n" + strings.Repeat("x", 200<<10) + "\n" + good + "\n" + strings.Repeat("y", 5000) + "\n" + good
	if err := os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := New(dir).NetTable(0, "tcp", func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != good || got[1] != good {
		t.Errorf("lines = %d %q", len(got), got)
	}
	socks, err := New(dir).NetSockets(0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range socks {
		if s.Inode == 42 {
			n++
		}
	}
	// Only net/tcp exists in the fixture: the other tables are skipped.
	if n != 2 {
		t.Errorf("NetSockets found inode 42 %d times, want 2", n)
	}
	if _, err := New(t.TempDir()).NetSockets(0); err == nil {
		t.Error("NetSockets on an empty root did not fail")
	}
}

func FuzzParseNetInet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "raw6", "tcp_hostile"} {
		b, err := os.ReadFile(filepath.Join("testdata", "net", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, "6"))
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		family := AFInet
		if v6 {
			family = AFInet6
		}
		for _, s := range ParseNetInet(b, family, ProtoTCP) {
			if s.LocalPort < 0 || s.LocalPort > 65535 || s.RemotePort < 0 || s.RemotePort > 65535 {
				t.Fatalf("port out of range: %+v", s)
			}
			if net.ParseIP(s.LocalAddress) == nil || net.ParseIP(s.RemoteAddress) == nil {
				t.Fatalf("address does not parse back: %+v", s)
			}
		}
	})
}

func FuzzParseNetUnix(f *testing.F) {
	for _, name := range []string{"unix", "unix_hostile", "packet"} {
		b, err := os.ReadFile(filepath.Join("testdata", "net", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range ParseNetUnix(b) {
			if strings.Contains(s.Path, "\n") {
				t.Fatalf("path spans lines: %q", s.Path)
			}
		}
		ParseNetPacket(b)
	})
}

func FuzzDecodeHexAddress(f *testing.F) {
	f.Add("0100007F", AFInet)
	f.Add("0000000000000000FFFF00000100007F", AFInet6)
	f.Fuzz(func(t *testing.T, s string, family int) {
		addr, ok := DecodeHexAddress(s, family)
		if ok && net.ParseIP(addr) == nil {
			t.Fatalf("%q decoded to %q, which is not an address", s, addr)
		}
		if ok && len(s) != 8 && len(s) != 32 {
			t.Fatalf("accepted length %d", len(s))
		}
	})
}
