package networking

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The testdata dumps were captured with the standard library's
// syscall.NetlinkRIB (an implementation independent of this package): host/
// from this machine, netns/ from a network namespace set up with a bridge,
// a tun device, an aliased /32, point-to-point peers, multipath, blackhole
// and unreachable routes and a route with mtu and hoplimit metrics.
func readDump(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// skipBigEndianDump skips tests on captured dumps on a big-endian host:
// netlink headers are host-endian and the captures are little-endian.
func skipBigEndianDump(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("netlink captures are little-endian")
	}
}

// nlMsg builds one netlink message for synthetic tests.
func nlMsg(typ uint16, body []byte) []byte {
	b := make([]byte, nlmsgHdrLen+len(body))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[nlmsgHdrLen:], body)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nlAttr builds one rtattr.
func nlAttr(typ uint16, data []byte) []byte {
	b := make([]byte, 4+len(data))
	binary.NativeEndian.PutUint16(b[0:2], uint16(len(b)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], data)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestNetlinkSplitHostile(t *testing.T) {
	skipBigEndianDump(t)
	full := readDump(t, "netns", "links")
	want := len(netlinkSplit(full))
	if want < 4 {
		t.Fatalf("fixture has %d messages", want)
	}
	// Every truncation yields a prefix of the messages, never a panic.
	for i := range full {
		if got := len(netlinkSplit(full[:i])); got > want {
			t.Fatalf("truncated at %d: %d messages, more than %d", i, got, want)
		}
		parseLinkDump(full[:i])
	}
	// A length field pointing past the end, or below the header size,
	// stops the split there.
	bad := append([]byte(nil), full...)
	binary.NativeEndian.PutUint32(bad[0:4], uint32(len(bad)+100))
	if n := len(netlinkSplit(bad)); n != 0 {
		t.Errorf("overlong first message: %d messages", n)
	}
	binary.NativeEndian.PutUint32(bad[0:4], 3)
	if n := len(netlinkSplit(bad)); n != 0 {
		t.Errorf("undersized first message: %d messages", n)
	}

	attrs := append(nlAttr(1, []byte("abc")), nlAttr(2, []byte{1, 2, 3, 4})...)
	if got := netlinkAttrs(attrs); len(got) != 2 || string(got[0].Data) != "abc" || got[1].Type != 2 {
		t.Errorf("attrs = %+v", got)
	}
	binary.NativeEndian.PutUint16(attrs[0:2], 200)
	if got := netlinkAttrs(attrs); len(got) != 0 {
		t.Errorf("overlong attribute accepted: %+v", got)
	}
	if got := netlinkAttrs([]byte{4, 0}); len(got) != 0 {
		t.Errorf("short attribute accepted: %+v", got)
	}
}

func TestNetlinkDumpLive(t *testing.T) {
	links, err := dumpLinks(context.Background())
	if err != nil {
		t.Skipf("no rtnetlink here: %v", err)
	}
	lo := false
	for _, l := range links {
		if l.Flags&syscall.IFF_LOOPBACK != 0 {
			lo = true
		}
	}
	if !lo {
		t.Errorf("no loopback among %+v", links)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dumpLinks(ctx); err == nil {
		t.Error("a cancelled context still dumped")
	}
}

func FuzzParseLinkDump(f *testing.F) {
	for _, dir := range []string{"host", "netns"} {
		f.Add(readDump(f, dir, "links"))
	}
	f.Add(nlMsg(syscall.RTM_NEWLINK, make([]byte, 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range parseLinkDump(b) {
			r := interfaceDetailsFromLink(l)
			if len(r.MAC) != 17 {
				t.Fatalf("mac %q", r.MAC)
			}
		}
	})
}
