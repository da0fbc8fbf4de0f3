package networking

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// This file is a minimal rtnetlink client: send one dump request, collect
// the reply, and split it into messages and attributes. The parsers take
// the raw reply bytes, so tests feed them captured dumps and the fuzzer
// feeds them garbage. Netlink is the kernel's own interface for links,
// addresses and routes; /proc has no IPv4 address list at all, and it is
// what glibc's getifaddrs (osquery's source) reads too.

// Limits on one dump, so a hostile or runaway reply cannot grow without
// bound: the reply buffer of one recvmsg (the kernel never sends a dump
// part larger than 32 KiB unless one message needs more), the whole dump,
// and how long the kernel may keep us waiting.
const (
	netlinkRecvBuf   = 1 << 20
	netlinkMaxDump   = 64 << 20
	netlinkTimeout   = 5 // seconds
	netlinkDumpTries = 3
)

// Header sizes of the rtnetlink messages used here.
const (
	nlmsgHdrLen    = 16 // struct nlmsghdr
	ifinfomsgLen   = 16 // struct ifinfomsg
	ifaddrmsgLen   = 8  // struct ifaddrmsg
	rtmsgLen       = 12 // struct rtmsg
	nlmFDumpIntr   = 0x10
	nlaTypeMask    = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	netlinkMaxMsgs = 1 << 20
)

// netlinkMsg is one message of a dump: its type and its payload after the
// nlmsghdr.
type netlinkMsg struct {
	Type  uint16
	Flags uint16
	Seq   uint32
	Data  []byte
}

// netlinkAttr is one rtattr: its type (flags masked off) and payload.
type netlinkAttr struct {
	Type uint16
	Data []byte
}

func netlinkAlign(n int) int { return (n + 3) &^ 3 }

// netlinkSplit splits a dump into messages, stopping at the first header
// whose length does not fit: what comes after a bad length cannot be
// framed.
func netlinkSplit(b []byte) []netlinkMsg {
	var out []netlinkMsg
	for len(b) >= nlmsgHdrLen && len(out) < netlinkMaxMsgs {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < nlmsgHdrLen || l > len(b) {
			break
		}
		out = append(out, netlinkMsg{
			Type:  binary.NativeEndian.Uint16(b[4:6]),
			Flags: binary.NativeEndian.Uint16(b[6:8]),
			Seq:   binary.NativeEndian.Uint32(b[8:12]),
			Data:  b[nlmsgHdrLen:l],
		})
		next := netlinkAlign(l)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return out
}

// netlinkAttrs splits a run of rtattrs, stopping at the first bad length.
func netlinkAttrs(b []byte) []netlinkAttr {
	var out []netlinkAttr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			break
		}
		out = append(out, netlinkAttr{
			Type: binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask,
			Data: b[4:l],
		})
		next := netlinkAlign(l)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return out
}

// netlinkU32 reads a native-endian u32 attribute; ok is false when the
// payload is too short.
func netlinkU32(b []byte) (uint32, bool) {
	if len(b) < 4 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(b), true
}

// netlinkString reads a NUL-terminated string attribute.
func netlinkString(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

// netlinkDump sends an rtnetlink dump request of msgType whose body is
// header (the family-specific struct, zeroed but for the family) and
// returns the reply messages, without NLMSG_DONE. A dump the kernel marks
// as interrupted (the tables changed while it was written) is retried, as
// glibc's getifaddrs does.
func netlinkDump(ctx context.Context, msgType uint16, header []byte) ([]byte, error) {
	var lastErr error
	for range netlinkDumpTries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, intr, err := netlinkDumpOnce(ctx, msgType, header)
		if err != nil {
			return nil, err
		}
		if !intr {
			return b, nil
		}
		lastErr = fmt.Errorf("netlink dump %d interrupted %d times", msgType, netlinkDumpTries)
	}
	return nil, lastErr
}

func netlinkDumpOnce(ctx context.Context, msgType uint16, header []byte) (dump []byte, interrupted bool, err error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, false, fmt.Errorf("netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, false, fmt.Errorf("netlink bind: %w", err)
	}
	tv := syscall.Timeval{Sec: netlinkTimeout}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, false, fmt.Errorf("netlink timeout: %w", err)
	}
	const seq = 1
	req := make([]byte, nlmsgHdrLen+len(header))
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], msgType)
	binary.NativeEndian.PutUint16(req[6:8], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq)
	copy(req[nlmsgHdrLen:], header)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, false, fmt.Errorf("netlink send: %w", err)
	}

	buf := make([]byte, netlinkRecvBuf)
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		n, _, flags, _, err := syscall.Recvmsg(fd, buf, nil, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("netlink receive: %w", err)
		}
		if flags&syscall.MSG_TRUNC != 0 {
			return nil, false, fmt.Errorf("netlink message larger than %d bytes", len(buf))
		}
		if n == 0 {
			return nil, false, errors.New("netlink: connection closed before the dump ended")
		}
		// The kernel may put NLMSG_DONE in the same datagram as the last
		// messages, so the datagram is kept whole; parsers skip DONE.
		dump = append(dump, buf[:n]...)
		if len(dump) > netlinkMaxDump {
			return nil, false, fmt.Errorf("netlink dump larger than %d bytes", netlinkMaxDump)
		}
		for _, m := range netlinkSplit(buf[:n]) {
			if m.Seq != seq {
				// A stray message, not a reply to this request.
				continue
			}
			switch m.Type {
			case syscall.NLMSG_DONE:
				return dump, interrupted, nil
			case syscall.NLMSG_ERROR:
				code, ok := netlinkU32(m.Data)
				if !ok {
					return nil, false, fmt.Errorf("netlink dump %d: short error reply", msgType)
				}
				if code != 0 { // 0 is an acknowledgement
					return nil, false, fmt.Errorf("netlink dump %d: %w", msgType, syscall.Errno(-int32(code)))
				}
			}
			if m.Flags&nlmFDumpIntr != 0 {
				interrupted = true
			}
		}
	}
}

// ifLink is one network interface from an RTM_GETLINK dump.
type ifLink struct {
	Index int32
	Name  string
	// Type is the ARPHRD_* hardware type (1 ethernet, 772 loopback).
	Type uint16
	// Flags are the IFF_* flags as rtnetlink reports them (dev_get_flags:
	// the configured flags plus the operational RUNNING/LOWER_UP/DORMANT).
	Flags  uint32
	MTU    uint32
	HWAddr []byte
	Stats  ifStats
}

// ifStats are the counters of struct rtnl_link_stats64, in its order.
type ifStats struct {
	RxPackets, TxPackets, RxBytes, TxBytes   uint64
	RxErrors, TxErrors, RxDropped, TxDropped uint64
	Multicast, Collisions                    uint64
}

// Link attributes (include/uapi/linux/if_link.h).
const (
	iflaAddress = 1
	iflaIfname  = 3
	iflaMTU     = 4
	iflaStats   = 7
	iflaStats64 = 23
)

// parseLinkDump decodes the RTM_NEWLINK messages of a link dump. Messages
// too short for an ifinfomsg are skipped.
func parseLinkDump(b []byte) []ifLink {
	var out []ifLink
	for _, m := range netlinkSplit(b) {
		if m.Type != syscall.RTM_NEWLINK || len(m.Data) < ifinfomsgLen {
			continue
		}
		l := ifLink{
			Type:  binary.NativeEndian.Uint16(m.Data[2:4]),
			Index: int32(binary.NativeEndian.Uint32(m.Data[4:8])),
			Flags: binary.NativeEndian.Uint32(m.Data[8:12]),
		}
		have64 := false
		for _, a := range netlinkAttrs(m.Data[ifinfomsgLen:]) {
			switch a.Type {
			case iflaAddress:
				l.HWAddr = a.Data
			case iflaIfname:
				l.Name = netlinkString(a.Data)
			case iflaMTU:
				l.MTU, _ = netlinkU32(a.Data)
			case iflaStats64:
				l.Stats, have64 = parseLinkStats(a.Data, 8), true
			case iflaStats:
				if !have64 {
					l.Stats = parseLinkStats(a.Data, 4)
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// parseLinkStats reads the first ten counters of rtnl_link_stats64 (size
// 8) or of the older 32-bit rtnl_link_stats (size 4), which share an order.
func parseLinkStats(b []byte, size int) ifStats {
	var v [10]uint64
	for i := range v {
		off := i * size
		if off+size > len(b) {
			break
		}
		if size == 8 {
			v[i] = binary.NativeEndian.Uint64(b[off:])
		} else {
			v[i] = uint64(binary.NativeEndian.Uint32(b[off:]))
		}
	}
	return ifStats{
		RxPackets: v[0], TxPackets: v[1], RxBytes: v[2], TxBytes: v[3],
		RxErrors: v[4], TxErrors: v[5], RxDropped: v[6], TxDropped: v[7],
		Multicast: v[8], Collisions: v[9],
	}
}

// dumpLinks returns the interfaces of this process's network namespace.
func dumpLinks(ctx context.Context) ([]ifLink, error) {
	hdr := make([]byte, ifinfomsgLen)
	hdr[0] = syscall.AF_UNSPEC
	b, err := netlinkDump(ctx, syscall.RTM_GETLINK, hdr)
	if err != nil {
		return nil, err
	}
	return parseLinkDump(b), nil
}

// linkNames maps interface index to name, as if_indextoname would.
func linkNames(links []ifLink) map[int32]string {
	m := make(map[int32]string, len(links))
	for _, l := range links {
		m[l.Index] = l.Name
	}
	return m
}
