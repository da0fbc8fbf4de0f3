package networking

import (
	"context"
	"encoding/binary"
	"syscall"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var routesSpec = table.Spec{
	Name:        "routes",
	Description: "The active route table for the host system.",
	Columns: []table.Column{
		table.Text("destination"),
		table.Integer("netmask"),
		table.Text("gateway"),
		table.Text("source"),
		table.Integer("flags"),
		table.Text("interface"),
		table.Integer("mtu"),
		table.Integer("metric"),
		table.Text("type").Additional(),
		table.Integer("hopcount"),
	},
	Attributes: table.Cacheable,
}

type routeRow struct {
	Destination string `col:"destination"`
	Netmask     int64  `col:"netmask"`
	Gateway     string `col:"gateway"`
	Source      string `col:"source"`
	Flags       int64  `col:"flags"`
	Interface   string `col:"interface"`
	MTU         int64  `col:"mtu"`
	Metric      int64  `col:"metric"`
	Type        string `col:"type"`
	Hopcount    int64  `col:"hopcount"`
}

func init() { table.Register(routesSpec, generateRoutes) }

// generateRoutes dumps every routing table of this network namespace over
// rtnetlink, as osquery does: the main table and the local one (local,
// broadcast and multicast routes), IPv4 and IPv6. /proc/net/route shows
// only IPv4's main table, so it is not enough.
//
// type is osquery's reading of rtm_type: unicast routes are "gateway"
// whether or not they have one, local/broadcast/anycast keep their name
// and every other kind is "other". A constraint on type is left to SQLite.
func generateRoutes(ctx context.Context, q *table.Query, emit func(routeRow)) error {
	links, err := dumpLinks(ctx)
	if err != nil {
		return err
	}
	hdr := make([]byte, rtmsgLen)
	hdr[0] = syscall.AF_UNSPEC
	dump, err := netlinkDump(ctx, syscall.RTM_GETROUTE, hdr)
	if err != nil {
		return err
	}
	for _, r := range parseRouteDump(dump, linkNames(links)) {
		emit(r)
	}
	return nil
}

// Route attributes (include/uapi/linux/rtnetlink.h).
const (
	rtaDst      = 1
	rtaOIF      = 4
	rtaGateway  = 5
	rtaPriority = 6
	rtaPrefSrc  = 7
	rtaMetrics  = 8
	rtaxMTU     = 2
	rtaxHopLim  = 10
)

// parseRouteDump decodes the RTM_NEWROUTE messages of a route dump. Routes
// of families other than IPv4 and IPv6 (the multicast routing caches) are
// skipped: osquery cannot print their addresses either.
func parseRouteDump(b []byte, ifnames map[int32]string) []routeRow {
	var out []routeRow
	for _, m := range netlinkSplit(b) {
		if m.Type != syscall.RTM_NEWROUTE || len(m.Data) < rtmsgLen {
			continue
		}
		family := m.Data[0]
		size := 0
		switch family {
		case syscall.AF_INET:
			size = 4
		case syscall.AF_INET6:
			size = 16
		default:
			continue
		}
		dstLen := int(m.Data[1])
		rtmType := m.Data[7]
		r := routeRow{Flags: int64(binary.NativeEndian.Uint32(m.Data[8:12]))}
		hasDst := false
		for _, a := range netlinkAttrs(m.Data[rtmsgLen:]) {
			switch a.Type {
			case rtaOIF:
				if idx, ok := netlinkU32(a.Data); ok {
					r.Interface = ifnames[int32(idx)]
				}
			case rtaGateway:
				if len(a.Data) == size {
					r.Gateway = procfs.FormatIP(a.Data)
				}
			case rtaPrefSrc:
				if len(a.Data) == size {
					r.Source = procfs.FormatIP(a.Data)
				}
			case rtaDst:
				if len(a.Data) != size {
					continue
				}
				r.Destination = procfs.FormatIP(a.Data)
				hasDst = true
				// osquery leaves the netmask of a host route (a /32 or
				// /128 destination) at 0.
				if dstLen != size*8 {
					r.Netmask = int64(dstLen)
				}
			case rtaPriority:
				if v, ok := netlinkU32(a.Data); ok {
					r.Metric = int64(int32(v))
				}
			case rtaMetrics:
				for _, x := range netlinkAttrs(a.Data) {
					v, ok := netlinkU32(x.Data)
					if !ok {
						continue
					}
					switch x.Type {
					case rtaxMTU:
						r.MTU = int64(int32(v))
					case rtaxHopLim:
						r.Hopcount = int64(int32(v))
					}
				}
			}
		}
		if !hasDst {
			// The default route carries no destination attribute.
			r.Destination = procfs.FormatIP(make([]byte, size))
			r.Netmask = int64(dstLen)
		}
		r.Type = routeTypeName(rtmType)
		out = append(out, r)
	}
	return out
}

// routeTypeName maps rtm_type (RTN_*) to osquery's route type.
func routeTypeName(t uint8) string {
	switch t {
	case syscall.RTN_UNICAST:
		return "gateway"
	case syscall.RTN_LOCAL:
		return "local"
	case syscall.RTN_BROADCAST:
		return "broadcast"
	case syscall.RTN_ANYCAST:
		return "anycast"
	}
	return "other"
}
