package system

import (
	"context"
	"math"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var uptimeSpec = table.Spec{
	Name:        "uptime",
	Description: "Track time passed since last boot. Some systems track this as calendar time, some as runtime.",
	Columns: []table.Column{
		table.Integer("days"),
		table.Integer("hours"),
		table.Integer("minutes"),
		table.Integer("seconds"),
		table.BigInt("total_seconds"),
	},
}

type uptimeRow struct {
	Days         int64 `col:"days"`
	Hours        int64 `col:"hours"`
	Minutes      int64 `col:"minutes"`
	Seconds      int64 `col:"seconds"`
	TotalSeconds int64 `col:"total_seconds"`
}

func init() { table.Register(uptimeSpec, generateUptime) }

// generateUptime reports the time since boot, split into days, hours,
// minutes and seconds. osquery takes sysinfo(2)'s uptime, which the kernel
// rounds up to the next whole second; /proc/uptime has the same clock with
// centisecond precision, so rounding it up gives the same number.
func generateUptime(ctx context.Context, q *table.Query, emit func(uptimeRow)) error {
	up, err := procfs.New(q.Env.ProcRoot).Uptime()
	if err != nil {
		return err
	}
	if up < 0 || up > math.MaxInt64/2 {
		// osquery emits no row when the uptime is unknown.
		q.Env.Log.Debug("uptime: implausible value", "seconds", up)
		return nil
	}
	total := int64(math.Ceil(up))
	emit(uptimeRow{
		Days:         total / 86400,
		Hours:        total / 3600 % 24,
		Minutes:      total / 60 % 60,
		Seconds:      total % 60,
		TotalSeconds: total,
	})
	return nil
}
