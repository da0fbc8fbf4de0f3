package networking

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseRouteDumpNetns(t *testing.T) {
	skipBigEndianDump(t)
	links := parseLinkDump(readDump(t, "netns", "links"))
	rows := parseRouteDump(readDump(t, "netns", "routes"), linkNames(links))
	find := func(dest, iface, typ string) routeRow {
		t.Helper()
		for _, r := range rows {
			if r.Destination == dest && r.Interface == iface && r.Type == typ {
				return r
			}
		}
		t.Fatalf("no %s route to %s via %q in %+v", typ, dest, iface, rows)
		return routeRow{}
	}
	if len(rows) != 26 {
		t.Errorf("%d routes, want 26", len(rows))
	}
	// The default route has no destination attribute.
	if r := find("0.0.0.0", "t_bridge", "gateway"); r.Gateway != "10.9.8.1" || r.Netmask != 0 || r.Flags != syscall.RTNH_F_ONLINK {
		t.Errorf("default = %+v", r)
	}
	if r := find("10.20.0.0", "t_bridge", "gateway"); r.Netmask != 16 || r.Metric != 7 || r.MTU != 1300 || r.Hopcount != 33 || r.Gateway != "10.9.8.1" {
		t.Errorf("metrics route = %+v", r)
	}
	if r := find("10.9.8.0", "t_bridge", "gateway"); r.Source != "10.9.8.7" || r.Netmask != 24 || r.Gateway != "" {
		t.Errorf("connected route = %+v", r)
	}
	// A multipath route has no single interface or gateway.
	if r := find("198.51.100.0", "", "gateway"); r.Netmask != 24 {
		t.Errorf("multipath = %+v", r)
	}
	find("203.0.113.0", "", "other") // blackhole
	find("203.0.114.0", "", "other") // unreachable
	// Host routes keep osquery's netmask of 0.
	if r := find("10.9.8.7", "t_bridge", "local"); r.Netmask != 0 || r.Source != "10.9.8.7" {
		t.Errorf("local = %+v", r)
	}
	find("10.9.8.255", "t_bridge", "broadcast")
	if r := find("2001:db8:5::", "t_bridge", "gateway"); r.Netmask != 48 || r.Gateway != "2001:db8::2" || r.Metric != 5 {
		t.Errorf("v6 route = %+v", r)
	}
	if r := find("ff00::", "tun0", "other"); r.Netmask != 8 || r.Metric != 256 {
		t.Errorf("v6 multicast = %+v", r)
	}
	find("fe80::9c34:b2ff:fe28:d5f5", "t_bridge", "local")
}

func TestParseRouteDumpSynthetic(t *testing.T) {
	rt := func(family, dstLen, typ byte, attrs ...[]byte) []byte {
		body := []byte{family, dstLen, 0, 0, 254, 0, 0, typ, 0, 0, 0, 0}
		for _, a := range attrs {
			body = append(body, a...)
		}
		return nlMsg(syscall.RTM_NEWROUTE, body)
	}
	var dump []byte
	dump = append(dump, rt(syscall.AF_INET, 24, syscall.RTN_ANYCAST, nlAttr(rtaDst, []byte{10, 0, 0, 0}), nlAttr(rtaOIF, []byte{99, 0, 0, 0}))...)
	// A wrong-sized destination is ignored and the default is printed.
	dump = append(dump, rt(syscall.AF_INET6, 0, syscall.RTN_UNICAST, nlAttr(rtaDst, []byte{1, 2}))...)
	// Multicast routing families are skipped.
	dump = append(dump, rt(128, 0, syscall.RTN_MULTICAST)...)
	// A short message is skipped.
	dump = append(dump, nlMsg(syscall.RTM_NEWROUTE, []byte{2, 0})...)
	// Metrics with a short payload are ignored.
	dump = append(dump, rt(syscall.AF_INET, 32, syscall.RTN_LOCAL, nlAttr(rtaDst, []byte{10, 0, 0, 1}), nlAttr(rtaMetrics, nlAttr(rtaxMTU, []byte{1})))...)
	rows := parseRouteDump(dump, map[int32]string{})
	want := []routeRow{
		{Destination: "10.0.0.0", Netmask: 24, Type: "anycast"},
		{Destination: "::", Netmask: 0, Type: "gateway"},
		{Destination: "10.0.0.1", Netmask: 0, Type: "local"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows:\n got %+v\nwant %+v", rows, want)
	}
}

type procRoute struct {
	dest    string
	prefix  int
	gateway string
	iface   string
	metric  int64
}

// readProcRoutes reads /proc/net/route and /proc/net/ipv6_route, an
// independent view of the main (and, for IPv6, every) routing table.
func readProcRoutes(t *testing.T) []procRoute {
	t.Helper()
	var out []procRoute
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		t.Skip(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 11 {
			continue
		}
		dest, _ := procfs.DecodeHexAddress(f[1], procfs.AFInet)
		gw, _ := procfs.DecodeHexAddress(f[2], procfs.AFInet)
		mask, _ := procfs.DecodeHexAddress(f[7], procfs.AFInet)
		ones, _ := net.IPMask(net.ParseIP(mask).To4()).Size()
		metric, _ := strconv.ParseInt(f[6], 10, 64)
		if gw == "0.0.0.0" {
			gw = ""
		}
		iface := f[0]
		if iface == "*" {
			// A route without a device (blackhole, unreachable).
			iface = ""
		}
		out = append(out, procRoute{dest, ones, gw, iface, metric})
	}
	b, err = os.ReadFile("/proc/net/ipv6_route")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		raw := func(s string) []byte { v, _ := hex.DecodeString(s); return v }
		prefix, _ := strconv.ParseInt(f[1], 16, 64)
		metric, _ := strconv.ParseUint(f[5], 16, 32)
		flags, _ := strconv.ParseUint(f[8], 16, 32)
		if flags&0x0200 != 0 && metric == 0xffffffff {
			// The null entry (reject, metric -1) is not a route the
			// netlink dump reports.
			continue
		}
		gw := procfs.FormatIP(raw(f[4]))
		if gw == "::" {
			gw = ""
		}
		out = append(out, procRoute{procfs.FormatIP(raw(f[0])), int(prefix), gw, f[9], int64(int32(uint32(metric)))})
	}
	return out
}

// TestRoutesLive checks that every route /proc/net shows is in the table
// with the same destination, prefix, gateway, interface and metric.
func TestRoutesLive(t *testing.T) {
	want := readProcRoutes(t)
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from routes")
	if len(rows) < len(want) {
		t.Errorf("%d routes, /proc/net shows %d", len(rows), len(want))
	}
	for _, w := range want {
		mask := strconv.Itoa(w.prefix)
		if w.prefix == 32 || w.prefix == 128 {
			mask = "0"
		}
		found := false
		for _, r := range rows {
			if r["destination"] == w.dest && r["netmask"] == mask && r["gateway"] == w.gateway &&
				r["interface"] == w.iface && r["metric"] == strconv.FormatInt(w.metric, 10) {
				found = true
			}
		}
		if !found {
			t.Errorf("route %+v missing from %v", w, rows)
		}
	}
	// type is an additional column: the constraint reaches the table,
	// which returns everything, and SQLite keeps the local routes.
	local := tabletest.Query(t, tabletest.HostEnv(t), "select destination, type from routes where type = 'local'")
	n := 0
	for _, r := range rows {
		if r["type"] == "local" {
			n++
		}
	}
	if len(local) != n {
		t.Errorf("type = 'local' gave %d rows, the full table has %d", len(local), n)
	}
	for _, r := range local {
		if r["type"] != "local" {
			t.Errorf("row %v in type = 'local'", r)
		}
	}
}

func FuzzParseRouteDump(f *testing.F) {
	for _, dir := range []string{"host", "netns"} {
		f.Add(readDump(f, dir, "routes"))
	}
	names := linkNames(parseLinkDump(readDump(f, "netns", "links")))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range parseRouteDump(b, names) {
			if net.ParseIP(r.Destination) == nil {
				t.Fatalf("destination %q", r.Destination)
			}
			if r.Netmask < 0 || r.Netmask > 255 {
				t.Fatalf("netmask %d", r.Netmask)
			}
		}
	})
}
