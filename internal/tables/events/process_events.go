package events

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/ancestry"
	"github.com/gosquery/gosquery/internal/audit"
	"github.com/gosquery/gosquery/internal/events"
	"github.com/gosquery/gosquery/internal/events/auditpub"
	"github.com/gosquery/gosquery/internal/table"
)

var processEventsSpec = table.Spec{
	Name:        "process_events",
	Description: "Track time/action process executions, with each process's ancestry.",
	Columns: []table.Column{
		table.BigInt("pid"),
		table.Text("path"),
		table.Text("mode"),
		table.Text("cmdline"),
		table.BigInt("cmdline_size").Hidden(),
		table.Text("env").Hidden(),
		table.BigInt("env_count").Hidden(),
		table.BigInt("env_size").Hidden(),
		table.Text("cwd"),
		table.BigInt("auid"),
		table.BigInt("uid"),
		table.BigInt("euid"),
		table.BigInt("gid"),
		table.BigInt("egid"),
		table.BigInt("owner_uid"),
		table.BigInt("owner_gid"),
		table.BigInt("atime"),
		table.BigInt("mtime"),
		table.BigInt("ctime"),
		table.BigInt("btime"),
		table.Text("overflows").Hidden(),
		table.BigInt("parent"),
		table.BigInt("time").Additional(),
		table.BigInt("uptime"),
		table.Text("eid").Hidden(),
		table.BigInt("fsuid"),
		table.BigInt("suid"),
		table.BigInt("fsgid"),
		table.BigInt("sgid"),
		table.Text("syscall"),
		table.Text("ancestry"),
		// gosquery's own, hidden so that SELECT * stays osquery's.
		table.Integer("ancestry_complete").Hidden(),
		table.BigInt("original_parent").Hidden(),
	},
}

type processEventRow struct {
	PID         int64         `col:"pid"`
	Path        string        `col:"path"`
	Mode        string        `col:"mode"`
	Cmdline     string        `col:"cmdline"`
	CmdlineSize int64         `col:"cmdline_size"`
	Env         string        `col:"env"`
	EnvCount    int64         `col:"env_count"`
	EnvSize     int64         `col:"env_size"`
	Cwd         string        `col:"cwd"`
	AUID        int64         `col:"auid"`
	UID         int64         `col:"uid"`
	EUID        int64         `col:"euid"`
	GID         int64         `col:"gid"`
	EGID        int64         `col:"egid"`
	OwnerUID    int64         `col:"owner_uid"`
	OwnerGID    int64         `col:"owner_gid"`
	Atime       int64         `col:"atime"`
	Mtime       int64         `col:"mtime"`
	Ctime       int64         `col:"ctime"`
	Btime       table.NullInt `col:"btime"`
	Overflows   string        `col:"overflows"`
	Parent      int64         `col:"parent"`
	Time        int64         `col:"time"`
	Uptime      int64         `col:"uptime"`
	EID         string        `col:"eid"`
	FSUID       int64         `col:"fsuid"`
	SUID        int64         `col:"suid"`
	FSGID       int64         `col:"fsgid"`
	SGID        int64         `col:"sgid"`
	Syscall     string        `col:"syscall"`
	Ancestry    string        `col:"ancestry"`
	// AncestryComplete is 1 when the chain reaches pid 1 (or kthreadd),
	// 0 when it stops early (ancestry_stop in the stats says why).
	AncestryComplete table.NullInt `col:"ancestry_complete"`
	// OriginalParent is the process that forked this one, which parent
	// (the exec record's ppid, osquery's meaning) is not after a
	// reparenting; NULL when unknown.
	OriginalParent table.NullInt `col:"original_parent"`
}

var processEvents = events.NewTable(processEventsSpec, auditpub.Name, func(r *processEventRow, time int64, eid uint64) {
	r.Time = time
	// osquery's eid is a zero-padded 10-digit string.
	r.EID = fmt.Sprintf("%010d", eid)
})

func init() { auditpub.Subscribe(processEventsSpec.Name, onProcessEvent) }

// onProcessEvent turns an audit exec (or fork/kill, when those rules are
// on) into a row, and captures the ancestry now, while the event is fresh:
// the exec tells the ancestry cache the process's own path and arguments,
// so the process and its children get a chain even if they have exited by
// the time anyone queries.
func onProcessEvent(ctx context.Context, m *events.Manager, ev *audit.Event) {
	x, ok := audit.DecodeExec(*ev)
	if !ok {
		return
	}
	row := processEventRow{
		PID:     x.PID,
		Path:    x.Exe,
		Mode:    x.Mode,
		Cwd:     x.Cwd,
		AUID:    x.AUID,
		UID:     x.UID,
		EUID:    x.EUID,
		GID:     x.GID,
		EGID:    x.EGID,
		FSUID:   x.FSUID,
		SUID:    x.SUID,
		FSGID:   x.FSGID,
		SGID:    x.SGID,
		Parent:  x.PPID,
		Syscall: x.Syscall,
		Uptime:  uptimeSeconds(),
	}
	if x.HasPath {
		row.OwnerUID, row.OwnerGID = x.OUID, x.OGID
	}
	cache := ancestry.ForEnv(m.Env())
	var chain ancestry.Chain
	switch {
	case x.IsExec():
		row.Cmdline = strings.Join(x.Argv, " ")
		res := cache.Exec(ancestry.ExecEvent{PID: int32(x.PID), PPID: int32(x.PPID), Path: x.Exe, Cmdline: row.Cmdline, Time: x.Time, Received: ev.Received})
		chain = res.Chain
		if res.OriginalParent > 0 {
			row.OriginalParent = table.Int(int64(res.OriginalParent))
		}
	case x.Syscall == "clone" || x.Syscall == "fork" || x.Syscall == "vfork":
		key := cache.Fork(int32(x.PPID), int32(x.PID), 0)
		chain = cache.Ancestry(key)
		row.OriginalParent = table.Int(x.PPID)
	default: // kill family: the sender's chain
		if p, ok := cache.Live(int32(x.PID)); ok {
			chain = cache.Ancestry(p.Key)
			row.OriginalParent = table.Int(int64(p.OriginalPPID))
		} else {
			chain = ancestry.Chain{JSON: []byte("[]"), Stop: ancestry.StopNotFound}
		}
	}
	row.Ancestry = string(chain.JSON)
	row.AncestryComplete = table.Int(0)
	if chain.Complete {
		row.AncestryComplete = table.Int(1)
	}
	row.CmdlineSize = int64(len(row.Cmdline))
	// osquery stats the executable when the event is processed.
	var st syscall.Stat_t
	if x.Exe != "" && syscall.Stat(x.Exe, &st) == nil {
		row.Atime, row.Mtime, row.Ctime = st.Atim.Sec, st.Mtim.Sec, st.Ctim.Sec
		row.Btime = table.Int(0)
		if row.Mode == "" {
			row.Mode = "0" + strconv.FormatUint(uint64(st.Mode), 8)
		}
	}
	if err := processEvents.Add(ctx, m, row); err != nil {
		m.Env().Log.Warn("process_events: cannot buffer event: " + err.Error())
	}
}

// uptimeSeconds is the boot clock (what /proc/uptime reports) in seconds.
// Reading CLOCK_BOOTTIME is a real syscall (x/sys has no vDSO path), once
// per event; so it is read once every uptimeRefresh and advanced with Go's
// monotonic clock in between. Only a suspend within that window makes the
// value lag, by less than uptimeRefresh.
func uptimeSeconds() int64 {
	uptime.mu.Lock()
	defer uptime.mu.Unlock()
	if uptime.at.IsZero() || time.Since(uptime.at) >= uptimeRefresh {
		var ts unix.Timespec
		if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
			return 0
		}
		uptime.boot, uptime.at = time.Duration(ts.Nano()), time.Now()
	}
	return int64((uptime.boot + time.Since(uptime.at)) / time.Second)
}

const uptimeRefresh = 10 * time.Second

var uptime struct {
	mu   sync.Mutex
	boot time.Duration // CLOCK_BOOTTIME at at
	at   time.Time
}
