package networking

import (
	"context"
	"strconv"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var listeningPortsSpec = table.Spec{
	Name:        "listening_ports",
	Description: "Processes with listening (bound) network sockets/ports.",
	Columns: []table.Column{
		table.Integer("pid"),
		table.Integer("port"),
		table.Integer("protocol"),
		table.Integer("family"),
		table.Text("address"),
		table.BigInt("fd"),
		table.BigInt("socket"),
		table.Text("path"),
		table.Text("net_namespace"),
	},
	Attributes: table.Cacheable,
}

type listeningPortRow struct {
	PID          int64  `col:"pid"`
	Port         int64  `col:"port"`
	Protocol     int64  `col:"protocol"`
	Family       int64  `col:"family"`
	Address      string `col:"address"`
	FD           int64  `col:"fd"`
	Socket       uint64 `col:"socket"`
	Path         string `col:"path"`
	NetNamespace string `col:"net_namespace"`
}

func init() { table.Register(listeningPortsSpec, generateListeningPorts) }

// generateListeningPorts filters process_open_sockets' rows as osquery
// does. An IP socket listens when it has no remote port: for TCP that is
// exactly the LISTEN state (/proc/net/tcp lists no bound-but-idle
// sockets), for UDP a bound socket that is not connected. A unix socket
// counts when it has a path, which includes the server side of accepted
// connections (they carry the listener's path); its port and socket are 0,
// as in osquery. Packet sockets pass both filters and are listed too, with
// family 17, the ethertype as protocol and no address.
func generateListeningPorts(ctx context.Context, q *table.Query, emit func(listeningPortRow)) error {
	socks, err := openSocketsCollect(ctx, q, nil, false)
	if err != nil {
		return err
	}
	for _, s := range socks {
		if r, ok := listeningPortFromSocket(s); ok {
			emit(r)
		}
	}
	return nil
}

func listeningPortFromSocket(s openSocket) (listeningPortRow, bool) {
	r := listeningPortRow{
		PID:          s.PID,
		Protocol:     int64(s.Protocol),
		Family:       int64(s.Family),
		FD:           s.FD,
		NetNamespace: strconv.FormatUint(s.NetNS, 10),
	}
	switch s.Family {
	case procfs.AFUnix:
		if s.Path == "" {
			return r, false
		}
		r.Path = s.Path
	case procfs.AFInet, procfs.AFInet6:
		if s.RemotePort != 0 {
			return r, false
		}
		r.Address = s.LocalAddress
		r.Port = int64(s.LocalPort)
		r.Socket = s.Inode
	default:
		r.Socket = s.Inode
	}
	return r, true
}
