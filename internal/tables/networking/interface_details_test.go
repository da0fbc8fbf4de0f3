package networking

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseLinkDumpNetns(t *testing.T) {
	skipBigEndianDump(t)
	links := parseLinkDump(readDump(t, "netns", "links"))
	if len(links) != 4 {
		t.Fatalf("%d links, want 4: %+v", len(links), links)
	}
	byName := map[string]interfaceDetailsRow{}
	for _, l := range links {
		byName[l.Name] = interfaceDetailsFromLink(l)
	}
	lo := byName["lo"]
	if lo.MAC != "00:00:00:00:00:00" || lo.Type != 772 || lo.MTU != 65536 || lo.LastChange != -1 || lo.Metric != 0 {
		t.Errorf("lo = %+v", lo)
	}
	// LOWER_UP|RUNNING|LOOPBACK stay; UP comes from sysfs in the table.
	if lo.Flags != syscall.IFF_LOOPBACK|syscall.IFF_RUNNING|0x10000 {
		t.Errorf("lo flags = %#x", lo.Flags)
	}
	br := byName["t_bridge"]
	if br.MAC != "9e:34:b2:28:d5:f5" || br.Type != 1 || br.MTU != 1450 || br.OPackets != 9 || br.OBytes != 894 || br.IPackets != 0 {
		t.Errorf("t_bridge = %+v", br)
	}
	// A tun device has no hardware address: SIOCGIFHWADDR gives zeros.
	tun := byName["tun0"]
	if tun.MAC != "00:00:00:00:00:00" || tun.Type != 65534 || tun.Flags&syscall.IFF_POINTOPOINT == 0 {
		t.Errorf("tun0 = %+v", tun)
	}
}

func TestLinkStats32(t *testing.T) {
	// Without IFLA_STATS64 the 32-bit counters are used.
	stats := make([]byte, 40)
	for i := range 10 {
		stats[i*4] = byte(i + 1)
	}
	body := make([]byte, ifinfomsgLen)
	body = append(body, nlAttr(iflaIfname, []byte("x0\x00"))...)
	body = append(body, nlAttr(iflaStats, stats)...)
	links := parseLinkDump(nlMsg(syscall.RTM_NEWLINK, body))
	if len(links) != 1 {
		t.Fatalf("links = %+v", links)
	}
	s := links[0].Stats
	if links[0].Name != "x0" || s.RxPackets != 1 || s.TxBytes != 4 || s.Collisions != 10 {
		t.Errorf("link = %+v", links[0])
	}
	// A short stats payload fills what it has.
	short := parseLinkStats(stats[:9], 4)
	if short.RxPackets != 1 || short.TxPackets != 2 || short.RxBytes != 0 {
		t.Errorf("short stats = %+v", short)
	}
}

func TestSysfsParsers(t *testing.T) {
	for in, want := range map[string]uint32{"0x1003\n": 0x1003, "0x9": 9} {
		if got, ok := parseSysfsFlags([]byte(in)); !ok || got != want {
			t.Errorf("parseSysfsFlags(%q) = %#x, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "0x", "1003", "0xzz", "0x1ffffffff"} {
		if _, ok := parseSysfsFlags([]byte(in)); ok {
			t.Errorf("parseSysfsFlags(%q) accepted", in)
		}
	}
	for in, want := range map[string]int64{"1000\n": 1000, "-1\n": 0, "": 0, "abc": 0, "4294967295": 0, "100000": 100000} {
		if got := parseSysfsSpeed([]byte(in)); got != want {
			t.Errorf("parseSysfsSpeed(%q) = %d, want %d", in, got, want)
		}
	}
	for name, ok := range map[string]bool{"eth0": true, "": false, ".": false, "..": false, "a/b": false} {
		if interfaceNameIsPlain(name) != ok {
			t.Errorf("interfaceNameIsPlain(%q) != %v", name, ok)
		}
	}
}

func readSysInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	base := 10
	if v, ok := strings.CutPrefix(s, "0x"); ok {
		s, base = v, 16
	}
	n, err := strconv.ParseInt(s, base, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInterfaceDetailsLive checks the table against the standard library
// and against sysfs, read independently.
func TestInterfaceDetailsLive(t *testing.T) {
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Skip(err)
	}
	sysNames, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Skipf("needs sysfs: %v", err)
	}
	// sysfs shows the network namespace of whoever mounted it, which is
	// not this process's after unshare -n without a new mount.
	var have, want []string
	for _, e := range sysNames {
		have = append(have, e.Name())
	}
	for _, ifc := range ifaces {
		want = append(want, ifc.Name)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Skipf("needs /sys mounted in this network namespace: sysfs lists %v, netlink %v", have, want)
	}
	var loBefore int64 = -1
	if _, err := os.Stat("/sys/class/net/lo"); err == nil {
		loBefore = readSysInt(t, "/sys/class/net/lo/statistics/rx_bytes")
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from interface_details")
	if len(rows) != len(ifaces) {
		t.Errorf("%d rows for %d interfaces", len(rows), len(ifaces))
	}
	byName := map[string]map[string]string{}
	for _, r := range rows {
		byName[r["interface"]] = r
	}
	for _, ifc := range ifaces {
		r, ok := byName[ifc.Name]
		if !ok {
			t.Errorf("interface %s missing", ifc.Name)
			continue
		}
		sys := filepath.Join("/sys/class/net", ifc.Name)
		mac := "00:00:00:00:00:00"
		if len(ifc.HardwareAddr) >= 6 {
			mac = ifc.HardwareAddr[:6].String()
		}
		if r["mac"] != mac {
			t.Errorf("%s: mac %s, want %s", ifc.Name, r["mac"], mac)
		}
		if r["mtu"] != strconv.Itoa(ifc.MTU) {
			t.Errorf("%s: mtu %s, want %d", ifc.Name, r["mtu"], ifc.MTU)
		}
		if want := strconv.FormatInt(readSysInt(t, sys+"/type"), 10); r["type"] != want {
			t.Errorf("%s: type %s, sysfs says %s", ifc.Name, r["type"], want)
		}
		flags, _ := strconv.ParseInt(r["flags"], 10, 64)
		if sysFlags := readSysInt(t, sys+"/flags"); flags&interfaceSysfsFlags != sysFlags&interfaceSysfsFlags {
			t.Errorf("%s: flags %#x, sysfs %#x", ifc.Name, flags, sysFlags)
		}
		if running := ifc.Flags&net.FlagRunning != 0; running != (flags&syscall.IFF_RUNNING != 0) {
			t.Errorf("%s: flags %#x, running=%v", ifc.Name, flags, running)
		}
		speed := int64(0)
		if b, err := os.ReadFile(sys + "/speed"); err == nil {
			speed = max(parseSysfsSpeed(b), 0)
		}
		if r["link_speed"] != strconv.FormatInt(speed, 10) {
			t.Errorf("%s: link_speed %s, sysfs %d", ifc.Name, r["link_speed"], speed)
		}
		if r["last_change"] != "-1" || r["metric"] != "0" {
			t.Errorf("%s: last_change %s metric %s", ifc.Name, r["last_change"], r["metric"])
		}
		// A PCI slot names a device sysfs knows; loopback has none.
		switch slot := r["pci_slot"]; {
		case ifc.Flags&net.FlagLoopback != 0:
			if slot != "-1" {
				t.Errorf("%s: pci_slot %q", ifc.Name, slot)
			}
		case strings.Count(slot, ":") == 2:
			if _, err := os.Stat(filepath.Join("/sys/bus/pci/devices", slot)); err != nil {
				t.Errorf("%s: pci_slot %q is not a PCI device: %v", ifc.Name, slot, err)
			}
		}
	}
	if lo, ok := byName["lo"]; ok && loBefore >= 0 {
		got, _ := strconv.ParseInt(lo["ibytes"], 10, 64)
		after := readSysInt(t, "/sys/class/net/lo/statistics/rx_bytes")
		if got < loBefore || got > after {
			t.Errorf("lo ibytes %d outside [%d, %d] read around the query", got, loBefore, after)
		}
	}

	// mac compares without case, as osquery declares it.
	if _, ok := byName["lo"]; ok {
		got := tabletest.Query(t, tabletest.HostEnv(t), "select interface from interface_details where mac = '00:00:00:00:00:00' and interface = 'lo'")
		if len(got) != 1 {
			t.Errorf("lo by mac: %v", got)
		}
	}
	for _, ifc := range ifaces {
		if len(ifc.HardwareAddr) == 6 && strings.ContainsAny(ifc.HardwareAddr.String(), "abcdef") {
			upper := strings.ToUpper(ifc.HardwareAddr.String())
			got := tabletest.Query(t, tabletest.HostEnv(t), "select interface from interface_details where mac = '"+upper+"'")
			if len(got) == 0 {
				t.Errorf("mac %s not found in upper case", upper)
			}
			break
		}
	}
}
