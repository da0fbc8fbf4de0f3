package networking

import (
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseAddrDumpNetns(t *testing.T) {
	skipBigEndianDump(t)
	links := parseLinkDump(readDump(t, "netns", "links"))
	got := interfaceAddressRows(parseAddrDump(readDump(t, "netns", "addrs")), links)
	u := "unknown"
	want := []interfaceAddressRow{
		// Loopback has no broadcast flag, so getifaddrs' copy of the
		// address lands in point_to_point, as osquery shows it.
		{"lo", "127.0.0.1", "255.0.0.0", "", "127.0.0.1", u},
		{"t_bridge", "10.9.8.7", "255.255.255.0", "10.9.8.255", "", u},
		// An alias is named by its label; without a broadcast address the
		// address itself is reported, again as getifaddrs does.
		{"t_bridge:1", "10.9.9.1", "255.255.255.255", "10.9.9.1", "", u},
		{"tun0", "10.1.1.1", "255.255.255.255", "", "10.1.1.2", u},
		{"lo", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", "", u},
		{"t_bridge", "2001:db8::1", "ffff:ffff:ffff:ffff::", "", "", u},
		{"t_bridge", "fe80::9c34:b2ff:fe28:d5f5%t_bridge", "ffff:ffff:ffff:ffff::", "", "", u},
		{"tun0", "2001:db8:1::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", "2001:db8:1::2", u},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseAddrDumpSynthetic(t *testing.T) {
	ifa := func(family, prefix byte, index uint32, attrs ...[]byte) []byte {
		body := []byte{family, prefix, 0, 0, byte(index), byte(index >> 8), byte(index >> 16), byte(index >> 24)}
		for _, a := range attrs {
			body = append(body, a...)
		}
		return nlMsg(syscall.RTM_NEWADDR, body)
	}
	ll := net.ParseIP("fe80::1")
	var dump []byte
	// IPv6 peer: IFA_LOCAL then IFA_ADDRESS, as the kernel sends it.
	dump = append(dump, ifa(syscall.AF_INET6, 64, 7, nlAttr(ifaLocal, ll), nlAttr(ifaAddress, net.ParseIP("fe80::2")))...)
	// A wrong-sized address is ignored; with nothing else the entry has
	// no address and is dropped, as getifaddrs' NULL ifa_addr is.
	dump = append(dump, ifa(syscall.AF_INET, 24, 7, nlAttr(ifaAddress, []byte{1, 2, 3}))...)
	// An unknown family is dropped.
	dump = append(dump, ifa(99, 24, 7, nlAttr(ifaAddress, []byte{1, 2, 3, 4}))...)
	// A prefix past the address size is capped; an unknown index gives
	// a numeric scope and an empty name.
	dump = append(dump, ifa(syscall.AF_INET6, 200, 9, nlAttr(ifaAddress, ll))...)
	links := []ifLink{{Index: 7, Name: "p2p0", Flags: syscall.IFF_POINTOPOINT}}
	got := interfaceAddressRows(parseAddrDump(dump), links)
	want := []interfaceAddressRow{
		{"p2p0", "fe80::1%p2p0", "ffff:ffff:ffff:ffff::", "", "fe80::2%p2p0", "unknown"},
		{"", "fe80::1%9", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", "", "unknown"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
}

// TestInterfaceAddressesLive compares the table with the standard
// library's view of the same interfaces.
func TestInterfaceAddressesLive(t *testing.T) {
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Skip(err)
	}
	type key struct{ iface, addr, mask string }
	var want []key
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			want = append(want, key{ifc.Name, n.IP.String(), net.IP(n.Mask).String()})
		}
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from interface_addresses")
	if len(rows) != len(want) {
		t.Errorf("%d rows, the standard library sees %d addresses: %v", len(rows), len(want), want)
	}
	for _, w := range want {
		found := false
		for _, r := range rows {
			addr, _, _ := strings.Cut(r["address"], "%")
			// An alias's row is named by its label, which starts with the
			// interface name.
			if strings.HasPrefix(r["interface"], w.iface) && addr == w.addr && r["mask"] == w.mask {
				found = true
				if r["type"] != "unknown" {
					t.Errorf("%v: type %q", w, r["type"])
				}
			}
		}
		if !found {
			t.Errorf("address %v missing from %v", w, rows)
		}
	}

	// A constraint is applied by SQLite; the table returns a superset.
	lo := tabletest.Query(t, tabletest.HostEnv(t), "select address from interface_addresses where interface = 'lo' and address = '127.0.0.1'")
	if len(lo) != 1 {
		t.Errorf("lo 127.0.0.1: %v", lo)
	}
}

func FuzzParseAddrDump(f *testing.F) {
	for _, dir := range []string{"host", "netns"} {
		f.Add(readDump(f, dir, "addrs"))
	}
	links := parseLinkDump(readDump(f, "netns", "links"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range interfaceAddressRows(parseAddrDump(b), links) {
			addr, _, _ := strings.Cut(r.Address, "%")
			if net.ParseIP(addr) == nil || net.ParseIP(r.Mask) == nil {
				t.Fatalf("row does not parse back: %+v", r)
			}
		}
	})
}
