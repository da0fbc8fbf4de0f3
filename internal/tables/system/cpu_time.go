package system

import (
	"context"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var cpuTimeSpec = table.Spec{
	Name:        "cpu_time",
	Description: "Displays information from /proc/stat file about the time the cpu cores spent in different parts of the system.",
	Columns: []table.Column{
		table.Integer("core"),
		table.BigInt("user"),
		table.BigInt("nice"),
		table.BigInt("system"),
		table.BigInt("idle"),
		table.BigInt("iowait"),
		table.BigInt("irq"),
		table.BigInt("softirq"),
		table.BigInt("steal"),
		table.BigInt("guest"),
		table.BigInt("guest_nice"),
	},
}

type cpuTimeRow struct {
	Core      int64  `col:"core"`
	User      uint64 `col:"user"`
	Nice      uint64 `col:"nice"`
	System    uint64 `col:"system"`
	Idle      uint64 `col:"idle"`
	IOWait    uint64 `col:"iowait"`
	IRQ       uint64 `col:"irq"`
	SoftIRQ   uint64 `col:"softirq"`
	Steal     uint64 `col:"steal"`
	Guest     uint64 `col:"guest"`
	GuestNice uint64 `col:"guest_nice"`
}

func init() { table.Register(cpuTimeSpec, generateCPUTime) }

// generateCPUTime emits one row per core line of /proc/stat; the aggregate
// "cpu" line is left out, as osquery does. The times stay in USER_HZ clock
// ticks (1/100 s), the unit osquery reports on Linux, not milliseconds.
func generateCPUTime(ctx context.Context, q *table.Query, emit func(cpuTimeRow)) error {
	stats, err := procfs.New(q.Env.ProcRoot).CPUStat()
	if err != nil {
		return err
	}
	for _, s := range stats {
		if s.CPU < 0 {
			continue
		}
		emit(cpuTimeRow{
			Core: int64(s.CPU), User: s.User, Nice: s.Nice, System: s.System,
			Idle: s.Idle, IOWait: s.IOWait, IRQ: s.IRQ, SoftIRQ: s.SoftIRQ,
			Steal: s.Steal, Guest: s.Guest, GuestNice: s.GuestNice,
		})
	}
	return nil
}
