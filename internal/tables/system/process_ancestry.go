package system

import (
	"context"

	"github.com/gosquery/gosquery/internal/ancestry"
	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

// process_ancestry is gosquery's own table: the ancestry chain of every live
// process (or of `pid = ?`), in the same JSON as process_events.ancestry, so
// ancestry is queryable for running processes and not only in events.
var processAncestrySpec = table.Spec{
	Name:        "process_ancestry",
	Description: "Ancestry chain of each running process, as in process_events.ancestry.",
	Columns: []table.Column{
		table.BigInt("pid").Index().Optimized(),
		table.BigInt("parent"),
		table.BigInt("original_parent"),
		table.Text("path"),
		table.Text("cmdline"),
		table.BigInt("proc_time"),
		table.BigInt("proc_time_hr"),
		table.Text("ancestry"),
		table.Integer("depth"),
		table.Integer("complete"),
		table.Text("stop"),
	},
}

type processAncestryRow struct {
	PID        int64  `col:"pid"`
	Parent     int64  `col:"parent"`
	Original   int64  `col:"original_parent"`
	Path       string `col:"path"`
	Cmdline    string `col:"cmdline"`
	ProcTime   int64  `col:"proc_time"`
	ProcTimeHR int64  `col:"proc_time_hr"`
	Ancestry   string `col:"ancestry"`
	Depth      int64  `col:"depth"`
	Complete   bool   `col:"complete"`
	Stop       string `col:"stop"`
}

func init() { table.Register(processAncestrySpec, generateProcessAncestry) }

// generateProcessAncestry builds each process's chain from the shared node
// cache, so repeated queries and the event tables reuse the same nodes.
// parent is the parent now, as in processes; original_parent the one that
// forked the process, which the chain follows and which survives a
// reparenting: a process whose parent exited still names it, not the
// reaper. stop says why the chain ends (root when complete).
func generateProcessAncestry(ctx context.Context, q *table.Query, emit func(processAncestryRow)) error {
	cache := ancestry.ForEnv(q.Env)
	pids, err := queriedPIDs(q, procfs.New(q.Env.ProcRoot))
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil
		}
		p, ok := cache.Live(int32(pid))
		if !ok {
			continue
		}
		hr := cache.ProcTimeHR(p.Key.Start)
		row := processAncestryRow{
			PID: pid, Parent: int64(p.PPID), Original: int64(p.OriginalPPID), Path: p.Path, Cmdline: p.Cmdline,
			ProcTime: hr / 100, ProcTimeHR: hr, Ancestry: "[]",
		}
		if q.UsedAny("ancestry", "depth", "complete", "stop") {
			ch := cache.Ancestry(p.Key)
			row.Ancestry, row.Depth, row.Complete, row.Stop = string(ch.JSON), int64(ch.Depth), ch.Complete, ch.Stop.String()
		}
		emit(row)
	}
	return nil
}
