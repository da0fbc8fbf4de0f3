package procfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Socket families and protocols, with the numbers Linux (and osquery's
// family/protocol columns) use.
const (
	AFUnix   = 1
	AFInet   = 2
	AFInet6  = 10
	AFPacket = 17

	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoUDPLite = 136
	ProtoRaw     = 255
)

// NetSocket is one socket of a /proc/net table.
type NetSocket struct {
	Family   int
	Protocol int
	// LocalAddress and RemoteAddress are printed as inet_ntop does; empty
	// for unix and packet sockets.
	LocalAddress  string
	RemoteAddress string
	LocalPort     int
	RemotePort    int
	// Inode is the socket's inode: /proc/<pid>/fd/N links to
	// "socket:[Inode]" for the descriptors that hold it.
	Inode uint64
	// State is the TCP state name (LISTEN, ESTABLISHED, ...) for TCP, NONE
	// for packet sockets and empty otherwise, as osquery reports it.
	State string
	// Path is a unix socket's bound path ("@name" for the abstract
	// namespace); empty for unbound sockets and other families.
	Path string
}

// NetInetTables lists the /proc/net tables of IP sockets, in the order
// osquery reads them (by protocol number); the IPv6 table of each is the
// same name with a "6" suffix. icmp holds ping sockets, raw the raw ones;
// osquery reports every raw socket with protocol 255 (IPPROTO_RAW), whatever
// protocol it was opened with, and so does this package.
var NetInetTables = []struct {
	Name     string
	Protocol int
}{
	{"icmp", ProtoICMP},
	{"tcp", ProtoTCP},
	{"udp", ProtoUDP},
	{"udplite", ProtoUDPLite},
	{"raw", ProtoRaw},
}

// tcpStates are the TCP state names by the kernel's numbering
// (include/net/tcp_states.h), spelled as osquery spells them.
var tcpStates = [...]string{
	"UNKNOWN",
	"ESTABLISHED",
	"SYN_SENT",
	"SYN_RECV",
	"FIN_WAIT1",
	"FIN_WAIT2",
	"TIME_WAIT",
	"CLOSED",
	"CLOSE_WAIT",
	"LAST_ACK",
	"LISTEN",
	"CLOSING",
}

// TCPState names the hex state code of a /proc/net/tcp line; codes the
// kernel does not print there (0, or past CLOSING) are "UNKNOWN".
func TCPState(hex string) string {
	n, err := strconv.ParseUint(hex, 16, 8)
	if err != nil || n == 0 || n >= uint64(len(tcpStates)) {
		return "UNKNOWN"
	}
	return tcpStates[n]
}

// MaxNetLines bounds how many lines of one /proc/net table are read: a
// host with millions of sockets still yields a bounded query.
const MaxNetLines = 1 << 22

// maxNetLine bounds one line; kernel lines are under 200 bytes, but a unix
// socket path may be up to 108 bytes with escapes.
const maxNetLine = 4096

// ParseNetInet parses /proc/net/{tcp,udp,raw,icmp,udplite}[6]. family is
// AFInet or AFInet6, protocol the table's protocol number. Lines that do not
// have the kernel's shape are skipped.
func ParseNetInet(b []byte, family, protocol int) []NetSocket {
	var out []NetSocket
	eachNetLine(b, func(line string) {
		if s, ok := ParseNetInetLine(line, family, protocol); ok {
			out = append(out, s)
		}
	})
	return out
}

// ParseNetInetLine parses one socket line (not the header) of an IP socket
// table: "sl local_address rem_address st tx_queue:rx_queue tr:tm->when
// retrnsmt uid timeout inode ...". Addresses are the in-memory bytes of the
// address printed as host-order 32-bit hex words; ports are plain hex.
func ParseNetInetLine(line string, family, protocol int) (NetSocket, bool) {
	var f [10]string
	if fieldsInto(line, f[:]) < len(f) {
		return NetSocket{}, false
	}
	laddr, lport, ok1 := splitHostPort(f[1], family)
	raddr, rport, ok2 := splitHostPort(f[2], family)
	ino, err := strconv.ParseUint(f[9], 10, 64)
	if !ok1 || !ok2 || err != nil {
		return NetSocket{}, false
	}
	s := NetSocket{
		Family:        family,
		Protocol:      protocol,
		LocalAddress:  laddr,
		LocalPort:     lport,
		RemoteAddress: raddr,
		RemotePort:    rport,
		Inode:         ino,
	}
	// Only TCP has states worth naming; UDP and raw sockets print the
	// TCP codes as a formality (07 "close" for unconnected sockets), which
	// osquery leaves out.
	if protocol == ProtoTCP {
		s.State = TCPState(f[3])
	}
	return s, true
}

func splitHostPort(s string, family int) (string, int, bool) {
	host, port, ok := strings.Cut(s, ":")
	if !ok || len(port) != 4 {
		return "", 0, false
	}
	addr, ok := DecodeHexAddress(host, family)
	if !ok {
		return "", 0, false
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return "", 0, false
	}
	return addr, int(p), true
}

// DecodeHexAddress decodes an address as /proc/net prints it: the address
// bytes read as native-endian 32-bit words, each printed as %08X. On a
// little-endian host 127.0.0.1 is "0100007F".
func DecodeHexAddress(s string, family int) (string, bool) {
	var words int
	switch family {
	case AFInet:
		words = 1
	case AFInet6:
		words = 4
	default:
		return "", false
	}
	if len(s) != 8*words {
		return "", false
	}
	var raw [16]byte
	for i := range words {
		w, err := strconv.ParseUint(s[8*i:8*i+8], 16, 32)
		if err != nil {
			return "", false
		}
		binary.NativeEndian.PutUint32(raw[4*i:], uint32(w))
	}
	if family == AFInet {
		return FormatIP(raw[:4]), true
	}
	return FormatIP(raw[:]), true
}

// FormatIP prints a 4- or 16-byte address as glibc's inet_ntop does, which
// is what osquery shows: RFC 5952 compression for IPv6, "::ffff:a.b.c.d"
// for IPv4-mapped addresses and "::a.b.c.d" for the old IPv4-compatible
// form. Other lengths give "".
func FormatIP(b []byte) string {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)).String()
	case 16:
		a := [16]byte(b)
		// glibc prints the IPv4 tail when exactly the first six words are
		// zero (so word 6 is not); netip prints such an address in hex.
		if isZero(a[:12]) && (a[12] != 0 || a[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(a[12:])).String()
		}
		return netip.AddrFrom16(a).String()
	}
	return ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ParseNetUnix parses /proc/net/unix: "Num RefCount Protocol Flags Type St
// Inode Path". The path is everything after the inode and its separating
// space, so a path with spaces stays whole; abstract names start with '@'.
func ParseNetUnix(b []byte) []NetSocket {
	var out []NetSocket
	eachNetLine(b, func(line string) {
		if s, ok := ParseNetUnixLine(line); ok {
			out = append(out, s)
		}
	})
	return out
}

// ParseNetUnixLine parses one socket line of /proc/net/unix.
func ParseNetUnixLine(line string) (NetSocket, bool) {
	var f [7]string
	rest := line
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		f[i], rest = rest[:end], rest[end:]
		if f[i] == "" {
			return NetSocket{}, false
		}
	}
	if !strings.HasSuffix(f[0], ":") {
		return NetSocket{}, false
	}
	proto, err1 := strconv.ParseUint(f[2], 16, 32)
	ino, err2 := strconv.ParseUint(f[6], 10, 64)
	if err1 != nil || err2 != nil {
		return NetSocket{}, false
	}
	path, _ := strings.CutPrefix(rest, " ")
	return NetSocket{Family: AFUnix, Protocol: int(proto), Inode: ino, Path: path}, true
}

// ParseNetPacket parses /proc/net/packet: "sk RefCnt Type Proto Iface R
// Rmem User Inode". Proto is the ethertype in hex (0003 = ETH_P_ALL).
// osquery gives these sockets the state "NONE".
func ParseNetPacket(b []byte) []NetSocket {
	var out []NetSocket
	eachNetLine(b, func(line string) {
		if s, ok := ParseNetPacketLine(line); ok {
			out = append(out, s)
		}
	})
	return out
}

// ParseNetPacketLine parses one socket line of /proc/net/packet.
func ParseNetPacketLine(line string) (NetSocket, bool) {
	var f [9]string
	if fieldsInto(line, f[:]) < len(f) {
		return NetSocket{}, false
	}
	proto, err1 := strconv.ParseUint(f[3], 16, 16)
	ino, err2 := strconv.ParseUint(f[8], 10, 64)
	if err1 != nil || err2 != nil || len(f[3]) != 4 {
		return NetSocket{}, false
	}
	return NetSocket{Family: AFPacket, Protocol: int(proto), Inode: ino, State: "NONE"}, true
}

// fieldsInto splits line on spaces and tabs into dst and returns how many
// fields it found (at most len(dst)), without allocating a slice per line.
func fieldsInto(line string, dst []string) int {
	n := 0
	for n < len(dst) {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		dst[n], line = line[:end], line[end:]
		n++
	}
	return n
}

// eachNetLine calls fn for every line after the header, at most
// MaxNetLines of them.
func eachNetLine(b []byte, fn func(string)) {
	s := string(b)
	for i := 0; i <= MaxNetLines && s != ""; i++ {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		if i == 0 || len(line) > maxNetLine {
			continue
		}
		fn(line)
	}
}

// NetTable streams /proc/<pid>/net/<name> line by line into parse, so a
// table of millions of sockets is never held in memory at once. pid <= 0
// reads /proc/net (the reader's own namespace).
func (fs FS) NetTable(pid int, name string, parse func(line string)) error {
	var path string
	if pid > 0 {
		path = fs.PIDPath(pid, "net", name)
	} else {
		path = fs.Path("net", name)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for i := 0; i <= MaxNetLines; i++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An overlong line: drop it and its remainder.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if i > 0 && len(line) > 0 && len(line) <= maxNetLine {
			parse(strings.TrimSuffix(string(line), "\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// NetSockets reads every socket table of the network namespace pid is in
// (from /proc/<pid>/net), in osquery's order: icmp, tcp, udp, udplite and
// raw, each IPv4 then IPv6, then unix, then packet. A table that cannot be
// read (a protocol not built into the kernel) is skipped; the error is
// returned only when none could be read.
func (fs FS) NetSockets(pid int) ([]NetSocket, error) {
	var out []NetSocket
	var firstErr error
	read := 0
	table := func(name string, parse func(string) (NetSocket, bool)) {
		err := fs.NetTable(pid, name, func(line string) {
			if s, ok := parse(line); ok {
				out = append(out, s)
			}
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		read++
	}
	for _, t := range NetInetTables {
		proto := t.Protocol
		table(t.Name, func(l string) (NetSocket, bool) { return ParseNetInetLine(l, AFInet, proto) })
		table(t.Name+"6", func(l string) (NetSocket, bool) { return ParseNetInetLine(l, AFInet6, proto) })
	}
	table("unix", ParseNetUnixLine)
	table("packet", ParseNetPacketLine)
	if read == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}
