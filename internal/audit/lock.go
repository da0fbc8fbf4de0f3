package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockPath is the lock file every test that touches the kernel's audit
// state takes, in any package: the daemon slot, the rules and the counters
// are machine-global, and `go test ./...` runs packages in parallel.
const TestLockPath = "/run/lock/gosquery-audit.lock"

// LockForTests takes an exclusive flock on path (TestLockPath if empty),
// waiting until ctx is done. The lock is tied to the open file, so it is
// released by unlock or when the process dies, never left stale.
func LockForTests(ctx context.Context, path string) (unlock func(), err error) {
	if path == "" {
		path = TestLockPath
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("audit test lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("audit test lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("audit test lock %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// RestoreState puts the kernel's audit state back to orig, for tests and
// for recovery after a crash: it deletes every rule whose key satisfies
// match, gives the daemon slot back if this process or a dead one holds it
// (and orig had no daemon), sets enabled, backlog_limit and
// backlog_wait_time back to orig's values, and resets the lost and
// backlog_wait_time_actual counters if orig had them at zero. It does
// everything it can and reports every failure.
func RestoreState(orig Status, match func(key string) bool) error {
	c, err := NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var errs []error
	rules, err := c.ListRules()
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range rules {
		if match != nil && match(r.Key()) {
			if err := c.DeleteRule(r); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
			}
		}
	}
	st, err := c.GetStatus()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if st.PID != 0 && orig.PID == 0 && (st.PID == uint32(os.Getpid()) || !pidAlive(st.PID)) {
		// For a dead owner the kernel first probes it (AUDIT_REPLACE),
		// finds it gone and resets the slot, so this succeeds.
		if err := c.SetStatus(Status{Mask: StatusPID}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []struct {
		bit       uint32
		cur, want uint32
	}{
		{StatusEnabled, st.Enabled, orig.Enabled},
		{StatusBacklogLimit, st.BacklogLimit, orig.BacklogLimit},
		{StatusBacklogWaitTime, st.BacklogWaitTime, orig.BacklogWaitTime},
		{StatusLost, st.Lost, orig.Lost},
		{StatusBacklogWaitTimeActual, st.BacklogWaitTimeActual, orig.BacklogWaitTimeActual},
	} {
		if f.cur == f.want {
			continue
		}
		if (f.bit == StatusLost || f.bit == StatusBacklogWaitTimeActual) && f.want != 0 {
			continue // counters can only be reset to zero
		}
		s := orig
		s.Mask = f.bit
		if err := c.SetStatus(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
