package networking

import (
	"context"
	"encoding/binary"
	"strconv"
	"syscall"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var interfaceAddressesSpec = table.Spec{
	Name:        "interface_addresses",
	Description: "Network interfaces and relevant metadata.",
	Columns: []table.Column{
		table.Text("interface"),
		table.Text("address"),
		table.Text("mask"),
		table.Text("broadcast"),
		table.Text("point_to_point"),
		table.Text("type"),
	},
	Attributes: table.Cacheable,
}

type interfaceAddressRow struct {
	Interface    string `col:"interface"`
	Address      string `col:"address"`
	Mask         string `col:"mask"`
	Broadcast    string `col:"broadcast"`
	PointToPoint string `col:"point_to_point"`
	Type         string `col:"type"`
}

func init() { table.Register(interfaceAddressesSpec, generateInterfaceAddresses) }

// generateInterfaceAddresses lists the IPv4 and IPv6 addresses of this
// network namespace from an rtnetlink dump, shaped as glibc's getifaddrs
// shapes them (osquery's source): the label as the interface name for
// aliases ("eth0:1"), a link-local address scoped with "%interface", the
// peer or broadcast address in point_to_point or broadcast according to
// the interface's IFF_BROADCAST flag.
func generateInterfaceAddresses(ctx context.Context, q *table.Query, emit func(interfaceAddressRow)) error {
	links, err := dumpLinks(ctx)
	if err != nil {
		return err
	}
	hdr := make([]byte, ifaddrmsgLen)
	hdr[0] = syscall.AF_UNSPEC
	dump, err := netlinkDump(ctx, syscall.RTM_GETADDR, hdr)
	if err != nil {
		return err
	}
	for _, r := range interfaceAddressRows(parseAddrDump(dump), links) {
		emit(r)
	}
	return nil
}

// ifAddr is one address of an RTM_GETADDR dump, after getifaddrs' shuffle
// of IFA_ADDRESS, IFA_LOCAL and IFA_BROADCAST.
type ifAddr struct {
	Family    int
	Index     int32
	PrefixLen int
	// Label is IFA_LABEL (IPv4 only), the alias name; empty otherwise.
	Label string
	// Addr is the interface's own address; Dest the broadcast address or,
	// on a point-to-point link, the peer. Nil when absent.
	Addr, Dest []byte
}

// Address attributes (include/uapi/linux/if_addr.h).
const (
	ifaAddress   = 1
	ifaLocal     = 2
	ifaLabel     = 3
	ifaBroadcast = 4
)

// parseAddrDump decodes the RTM_NEWADDR messages of an address dump. It
// follows glibc: IFA_ADDRESS is the address unless one is already set, in
// which case it is the peer; IFA_LOCAL is always the address, pushing an
// earlier IFA_ADDRESS to the peer slot; IFA_BROADCAST takes the peer slot.
// The kernel sends IFA_ADDRESS then IFA_LOCAL for every IPv4 address, so
// an IPv4 address without a broadcast attribute (loopback, a /32) reports
// itself as the destination, exactly as getifaddrs does.
func parseAddrDump(b []byte) []ifAddr {
	var out []ifAddr
	for _, m := range netlinkSplit(b) {
		if m.Type != syscall.RTM_NEWADDR || len(m.Data) < ifaddrmsgLen {
			continue
		}
		a := ifAddr{
			Family:    int(m.Data[0]),
			PrefixLen: int(m.Data[1]),
			Index:     int32(binary.NativeEndian.Uint32(m.Data[4:8])),
		}
		size := 0
		switch a.Family {
		case syscall.AF_INET:
			size = 4
		case syscall.AF_INET6:
			size = 16
		default:
			continue
		}
		for _, at := range netlinkAttrs(m.Data[ifaddrmsgLen:]) {
			switch at.Type {
			case ifaAddress:
				if len(at.Data) != size {
					continue
				}
				if a.Addr != nil {
					a.Dest = at.Data
				} else {
					a.Addr = at.Data
				}
			case ifaLocal:
				if len(at.Data) != size {
					continue
				}
				if a.Addr != nil {
					a.Dest = a.Addr
				}
				a.Addr = at.Data
			case ifaBroadcast:
				if len(at.Data) != size {
					continue
				}
				a.Dest = at.Data
			case ifaLabel:
				a.Label = netlinkString(at.Data)
			}
		}
		if a.Addr == nil {
			// getifaddrs leaves ifa_addr NULL and osquery skips the entry.
			continue
		}
		out = append(out, a)
	}
	return out
}

// interfaceAddressRows turns parsed addresses into rows, using the link
// dump for interface names and flags.
func interfaceAddressRows(addrs []ifAddr, links []ifLink) []interfaceAddressRow {
	byIndex := make(map[int32]ifLink, len(links))
	for _, l := range links {
		byIndex[l.Index] = l
	}
	var out []interfaceAddressRow
	for _, a := range addrs {
		link := byIndex[a.Index]
		r := interfaceAddressRow{
			Interface: link.Name,
			Address:   ifAddrString(a.Addr, a.Index, link.Name),
			Mask:      procfs.FormatIP(prefixMask(a.PrefixLen, len(a.Addr))),
			// osquery cannot tell on Linux how an address was configured
			// (dhcp and manual come from the Windows API), so it always
			// says unknown.
			Type: "unknown",
		}
		if a.Label != "" {
			r.Interface = a.Label
		}
		if a.Dest != nil {
			dest := ifAddrString(a.Dest, a.Index, link.Name)
			if link.Flags&syscall.IFF_BROADCAST != 0 {
				r.Broadcast = dest
			} else {
				r.PointToPoint = dest
			}
		}
		out = append(out, r)
	}
	return out
}

// ifAddrString prints an address as getnameinfo(NI_NUMERICHOST) does for
// getifaddrs' sockaddrs: link-local IPv6 unicast and multicast addresses
// carry the interface as their scope ("fe80::1%eth0"), or its index when
// the index names no interface.
func ifAddrString(b []byte, index int32, ifname string) string {
	s := procfs.FormatIP(b)
	if len(b) == 16 && index != 0 && (isLinkLocalUnicast6(b) || isLinkLocalMulticast6(b)) {
		if ifname == "" {
			ifname = strconv.Itoa(int(uint32(index)))
		}
		s += "%" + ifname
	}
	return s
}

func isLinkLocalUnicast6(b []byte) bool { return b[0] == 0xfe && b[1]&0xc0 == 0x80 }

func isLinkLocalMulticast6(b []byte) bool { return b[0] == 0xff && b[1]&0x0f == 0x02 }

// prefixMask builds the netmask of a prefix length, capped at the address
// size as glibc caps it.
func prefixMask(prefix, size int) []byte {
	mask := make([]byte, size)
	prefix = min(prefix, size*8)
	for i := range mask {
		switch {
		case prefix >= 8:
			mask[i] = 0xff
			prefix -= 8
		case prefix > 0:
			mask[i] = byte(0xff << (8 - prefix))
			prefix = 0
		}
	}
	return mask
}
