package ancestry

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
)

// clock converts between the times events carry and ticks since boot,
// the unit of process identity.
//
// Two boot times are in play. Output (proc_time, proc_time_hr) uses
// /proc/stat's btime, whole seconds, exactly as osquery's processes table
// computes start_time, so an element's proc_time joins with
// processes.start_time. Comparing an event's wall-clock time with start
// and exit ticks needs the boot instant to the nanosecond instead (btime
// is up to a second early), so that offset is measured from the wall and
// boot clocks, and measured again every offsetRefresh in case the wall
// clock was stepped.
type clock struct {
	now       func() time.Time
	sinceBoot func() time.Duration
	// bootHR is btime in hundredths of a second since the epoch: with 100
	// clock ticks per second, proc_time_hr = bootHR + start ticks.
	bootHR int64

	mu       sync.Mutex
	bootWall time.Time // the wall-clock instant of boot
	measured time.Time
}

// offsetRefresh bounds how long a stepped wall clock can skew the
// conversion of event times.
const offsetRefresh = 10 * time.Second

func newClock(proc procfs.FS, now func() time.Time, sinceBoot func() time.Duration) *clock {
	if now == nil {
		now = time.Now
	}
	if sinceBoot == nil {
		sinceBoot = kernelSinceBoot
	}
	c := &clock{now: now, sinceBoot: sinceBoot}
	if bt, err := proc.BootTime(); err == nil {
		c.bootHR = bt.Unix() * procfs.ClockTicks
	}
	return c
}

// kernelSinceBoot reads CLOCK_BOOTTIME (it counts suspend, as /proc's
// start times do).
func kernelSinceBoot() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// boot returns the wall-clock instant of boot, to the nanosecond.
func (c *clock) boot() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.measured.IsZero() || now.Sub(c.measured) >= offsetRefresh || now.Before(c.measured) {
		c.bootWall = now.Add(-c.sinceBoot())
		c.measured = now
	}
	return c.bootWall
}

// sinceBootAt converts a wall-clock time to time since boot; the zero time
// means now.
func (c *clock) sinceBootAt(t time.Time) time.Duration {
	if t.IsZero() {
		return c.sinceBoot()
	}
	d := t.Sub(c.boot())
	if d < 0 {
		return 0
	}
	return d
}

// ticksAt converts a wall-clock time to ticks since boot; the zero time
// means now.
func (c *clock) ticksAt(t time.Time) uint64 {
	return uint64(c.sinceBootAt(t) / (time.Second / procfs.ClockTicks))
}
