package networking

import (
	"context"
	"slices"
	"strconv"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var processOpenSocketsSpec = table.Spec{
	Name:        "process_open_sockets",
	Description: "Processes which have open network sockets on the system.",
	Columns: []table.Column{
		table.Integer("pid").Additional(),
		table.BigInt("fd"),
		table.BigInt("socket"),
		table.Integer("family"),
		table.Integer("protocol"),
		table.Text("local_address"),
		table.Text("remote_address"),
		table.Integer("local_port"),
		table.Integer("remote_port"),
		table.Text("path"),
		table.Text("state"),
		table.Text("net_namespace"),
	},
}

type processOpenSocketRow struct {
	PID           int64  `col:"pid"`
	FD            int64  `col:"fd"`
	Socket        uint64 `col:"socket"`
	Family        int64  `col:"family"`
	Protocol      int64  `col:"protocol"`
	LocalAddress  string `col:"local_address"`
	RemoteAddress string `col:"remote_address"`
	LocalPort     int64  `col:"local_port"`
	RemotePort    int64  `col:"remote_port"`
	Path          string `col:"path"`
	State         string `col:"state"`
	NetNamespace  string `col:"net_namespace"`
}

func init() { table.Register(processOpenSocketsSpec, generateProcessOpenSockets) }

// generateProcessOpenSockets lists the sockets of every network namespace
// a process is in, each with the process and descriptor holding it.
// Without a pid constraint (or with pid = -1 among the values) sockets no
// process holds are listed too, with pid and fd -1, as osquery lists them:
// kernel sockets, TIME_WAIT connections, sockets passed over unix sockets
// and not yet received. With `pid = N` or `pid IN (...)` only those
// processes are read and only their sockets returned.
func generateProcessOpenSockets(ctx context.Context, q *table.Query, emit func(processOpenSocketRow)) error {
	pids, filtered := openSocketsPIDs(q)
	socks, err := openSocketsCollect(ctx, q, pids, filtered)
	if err != nil {
		return err
	}
	for _, s := range socks {
		emit(processOpenSocketRow{
			PID:           s.PID,
			FD:            s.FD,
			Socket:        s.Inode,
			Family:        int64(s.Family),
			Protocol:      int64(s.Protocol),
			LocalAddress:  s.LocalAddress,
			RemoteAddress: s.RemoteAddress,
			LocalPort:     int64(s.LocalPort),
			RemotePort:    int64(s.RemotePort),
			Path:          s.Path,
			State:         s.State,
			NetNamespace:  strconv.FormatUint(s.NetNS, 10),
		})
	}
	return nil
}

// openSocket is a socket from a /proc/<pid>/net table, with the process
// and descriptor that hold it (-1 when none does) and the inode of its
// network namespace (0 when the namespace could not be read).
type openSocket struct {
	procfs.NetSocket
	PID, FD int64
	NetNS   uint64
}

// openSocketsPIDs returns the pids named by `pid = ` constraints, or nil
// and false when the query wants every process. osquery treats a -1 among
// the values as "all processes, and sockets of none".
func openSocketsPIDs(q *table.Query) ([]int, bool) {
	vals := q.EqualsInt("pid")
	if len(vals) == 0 || slices.Contains(vals, -1) {
		return nil, false
	}
	var pids []int
	for _, v := range vals {
		if v > 0 && v <= 1<<31 {
			pids = append(pids, int(v))
		}
	}
	return pids, true
}

// openSocketsCollect gathers sockets as osquery does, in three steps: map
// each socket inode to the process and descriptor holding it by reading
// /proc/<pid>/fd; note each process's network namespace; and read the
// socket tables of each namespace once, through the first process found in
// it. With filtered set, pids is the list to read and sockets held by no
// listed process are dropped; otherwise every process is read.
//
// Two refinements over osquery. A socket held by several processes
// (inherited over fork, passed over a unix socket) is reported once, for
// the lowest pid and its lowest descriptor; osquery keeps an arbitrary
// one. And processes whose namespace link cannot be read (a hardened
// /proc, another user's process) are read last and only for sockets not
// already found: osquery files them under namespace 0 and so lists every
// socket of a shared namespace twice.
func openSocketsCollect(ctx context.Context, q *table.Query, pids []int, filtered bool) ([]openSocket, error) {
	fs := procfs.New(q.Env.ProcRoot)
	if !filtered {
		all, err := fs.PIDs()
		if err != nil {
			return nil, err
		}
		pids = all
	}
	pids = slices.Clone(pids)
	slices.Sort(pids)
	pids = slices.Compact(pids)

	type holder struct{ pid, fd int64 }
	holders := map[uint64]holder{}
	namespaces := map[uint64]bool{}
	found := map[uint64]bool{}
	var out []openSocket
	addTables := func(pid int, ns uint64) bool {
		socks, err := fs.NetSockets(pid)
		if err != nil {
			q.Env.Log.Debug("process_open_sockets: cannot read socket tables", "pid", pid, "err", err)
			return false
		}
		for _, s := range socks {
			// Inode 0 is no socket at all but a TIME_WAIT or SYN_RECV
			// entry; those are never the same twice.
			if s.Inode != 0 && found[s.Inode] {
				continue
			}
			found[s.Inode] = true
			out = append(out, openSocket{NetSocket: s, NetNS: ns})
		}
		return true
	}
	var unknownNS []int
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fds, err := fs.FDs(pid)
		if err != nil {
			q.Env.Log.Debug("process_open_sockets: cannot list descriptors", "pid", pid, "err", err)
		}
		for _, fd := range fds {
			if ino, ok := procfs.SocketInode(fd.Link); ok {
				if _, seen := holders[ino]; !seen {
					holders[ino] = holder{int64(pid), fd.Num}
				}
			}
		}
		ns, err := fs.Namespace(pid, "net")
		if err != nil {
			unknownNS = append(unknownNS, pid)
			continue
		}
		// A process that exits before its tables are read leaves the
		// namespace unread, for the next process in it to try.
		if !namespaces[ns] && addTables(pid, ns) {
			namespaces[ns] = true
		}
	}
	// Namespace 0 stands for "unknown", as in osquery; one readable
	// process is enough, as osquery reads it once too.
	for _, pid := range unknownNS {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if addTables(pid, 0) {
			break
		}
	}

	kept := out[:0]
	for _, s := range out {
		if h, ok := holders[s.Inode]; ok {
			s.PID, s.FD = h.pid, h.fd
		} else if filtered {
			continue
		} else {
			s.PID, s.FD = -1, -1
		}
		kept = append(kept, s)
	}
	return kept, nil
}
