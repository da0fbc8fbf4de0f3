package networking

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var interfaceDetailsSpec = table.Spec{
	Name:        "interface_details",
	Description: "Detailed information and stats of network interfaces.",
	Columns: []table.Column{
		table.Text("interface"),
		table.Text("mac").Collation("nocase"),
		table.Integer("type"),
		table.Integer("mtu"),
		table.Integer("metric"),
		table.Integer("flags"),
		table.BigInt("ipackets"),
		table.BigInt("opackets"),
		table.BigInt("ibytes"),
		table.BigInt("obytes"),
		table.BigInt("ierrors"),
		table.BigInt("oerrors"),
		table.BigInt("idrops"),
		table.BigInt("odrops"),
		table.BigInt("collisions"),
		table.BigInt("last_change"),
		table.BigInt("link_speed"),
		table.Text("pci_slot"),
	},
	Attributes: table.Cacheable,
}

type interfaceDetailsRow struct {
	Interface  string `col:"interface"`
	MAC        string `col:"mac"`
	Type       int64  `col:"type"`
	MTU        int64  `col:"mtu"`
	Metric     int64  `col:"metric"`
	Flags      int64  `col:"flags"`
	IPackets   uint64 `col:"ipackets"`
	OPackets   uint64 `col:"opackets"`
	IBytes     uint64 `col:"ibytes"`
	OBytes     uint64 `col:"obytes"`
	IErrors    uint64 `col:"ierrors"`
	OErrors    uint64 `col:"oerrors"`
	IDrops     uint64 `col:"idrops"`
	ODrops     uint64 `col:"odrops"`
	Collisions uint64 `col:"collisions"`
	LastChange int64  `col:"last_change"`
	LinkSpeed  int64  `col:"link_speed"`
	PCISlot    string `col:"pci_slot"`
}

func init() { table.Register(interfaceDetailsSpec, generateInterfaceDetails) }

// interfaceSysfsFlags are the IFF_* bits osquery takes from
// /sys/class/net/<if>/flags (the device's configured flags) rather than
// from rtnetlink, which reports promiscuous and all-multicast mode only
// when set by the administrator, not when a packet capture turned it on.
const interfaceSysfsFlags = syscall.IFF_UP | syscall.IFF_DEBUG | syscall.IFF_NOTRAILERS |
	syscall.IFF_NOARP | syscall.IFF_PROMISC | syscall.IFF_ALLMULTI | syscall.IFF_MULTICAST |
	syscall.IFF_PORTSEL | syscall.IFF_AUTOMEDIA | syscall.IFF_DYNAMIC

// generateInterfaceDetails lists the interfaces of this network namespace
// from an rtnetlink link dump, with flags corrected from sysfs, the link
// speed from sysfs and the bus address from the ethtool driver info, as
// osquery fills them.
//
// Differences from osquery kept on purpose: counters are the kernel's
// 64-bit ones (osquery reads the 32-bit rtnl_link_stats that getifaddrs
// hands it, so its counters wrap at 4 GiB), and type is the whole ARPHRD
// number (osquery casts it to a byte, turning loopback's 772 into 4).
func generateInterfaceDetails(ctx context.Context, q *table.Query, emit func(interfaceDetailsRow)) error {
	links, err := dumpLinks(ctx)
	if err != nil {
		return err
	}
	wantSpeed := q.Used("link_speed")
	wantSlot := q.Used("pci_slot")
	ethtool := -1
	if wantSlot {
		if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
			ethtool = fd
			defer unix.Close(fd)
		} else {
			q.Env.Log.Debug("interface_details: no socket for ethtool", "err", err)
		}
	}
	for _, l := range links {
		if ctx.Err() != nil {
			return nil
		}
		r := interfaceDetailsFromLink(l)
		sysDir := ""
		if interfaceNameIsPlain(l.Name) {
			sysDir = q.Env.Sys("class", "net", l.Name)
		}
		if sysDir != "" {
			if b, err := procfs.ReadFile(sysDir+"/flags", 64); err == nil {
				if f, ok := parseSysfsFlags(b); ok {
					r.Flags |= int64(f & interfaceSysfsFlags)
				}
			}
		}
		if wantSpeed && sysDir != "" {
			if b, err := procfs.ReadFile(sysDir+"/speed", 64); err == nil {
				r.LinkSpeed = parseSysfsSpeed(b)
			}
		}
		if wantSlot && ethtool >= 0 {
			r.PCISlot = interfaceBusInfo(ethtool, l.Name)
		}
		emit(r)
	}
	return nil
}

// interfaceDetailsFromLink fills the columns that come from the link dump
// alone. flags keeps the rtnetlink bits outside interfaceSysfsFlags; the
// caller adds the sysfs ones.
func interfaceDetailsFromLink(l ifLink) interfaceDetailsRow {
	return interfaceDetailsRow{
		Interface: l.Name,
		MAC:       formatMAC(l.HWAddr),
		Type:      int64(l.Type),
		MTU:       int64(l.MTU),
		// SIOCGIFMETRIC always answers 0 on Linux: the kernel keeps no
		// interface metric.
		Metric:     0,
		Flags:      int64(l.Flags &^ interfaceSysfsFlags),
		IPackets:   l.Stats.RxPackets,
		OPackets:   l.Stats.TxPackets,
		IBytes:     l.Stats.RxBytes,
		OBytes:     l.Stats.TxBytes,
		IErrors:    l.Stats.RxErrors,
		OErrors:    l.Stats.TxErrors,
		IDrops:     l.Stats.RxDropped,
		ODrops:     l.Stats.TxDropped,
		Collisions: l.Stats.Collisions,
		// Linux keeps no time of the last link change; osquery says -1.
		LastChange: -1,
		// osquery reports 0 when the speed is unknown or not asked for.
		LinkSpeed: 0,
		// Without an ethtool socket osquery leaves the slot empty.
		PCISlot: "",
	}
}

// formatMAC prints the first six bytes of a hardware address as
// SIOCGIFHWADDR shows them: zero-padded, so an interface without one
// (loopback, tun) is 00:00:00:00:00:00.
func formatMAC(hw []byte) string {
	var b [6]byte
	copy(b[:], hw)
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// parseSysfsFlags parses /sys/class/net/<if>/flags ("0x1003\n").
func parseSysfsFlags(b []byte) (uint32, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0x")
	if !ok || s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// parseSysfsSpeed parses /sys/class/net/<if>/speed, in Mb/s. The kernel
// prints -1 for an unknown speed, which osquery reports as 0.
func parseSysfsSpeed(b []byte) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 || v >= 0xffffffff {
		return 0
	}
	return v
}

// interfaceBusInfo asks the driver for the interface's bus address (the
// PCI slot, "0000:00:03.0"), as osquery does with ETHTOOL_GDRVINFO. A
// device without driver info (loopback) gives "-1", osquery's value for a
// failed request; a virtual device with a link type gives "".
func interfaceBusInfo(fd int, name string) string {
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, name)
	if err != nil {
		return "-1"
	}
	return netlinkString(info.Bus_info[:])
}

// interfaceNameIsPlain reports whether name can be used as a sysfs path
// element. The kernel refuses '/', whitespace, "." and ".." in names; this
// guards against a netlink reply that does not.
func interfaceNameIsPlain(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
