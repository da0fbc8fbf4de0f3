package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that spawn processes and find their events by pid assume that a
// pid is not recycled within seconds; a test that lowers kernel.pid_max to
// force recycling breaks that for the whole machine. `go test ./...` runs
// packages in parallel, so the two kinds share a machine-wide lock: the
// first hold it shared (SharePIDs, for a whole test binary), the second
// exclusively (LowerPidMax). Take it before the audit lock, never while
// holding it, so that the two locks are always taken in the same order.
const (
	pidsLockPath = "/run/lock/gosquery-pids.lock"
	// pidMaxSaved holds the machine's pid_max while a test lowers it, so
	// a run killed midway is undone by the next (RestorePidMax).
	pidMaxSaved = "/run/lock/gosquery-pid_max.orig"
	pidMaxPath  = "/proc/sys/kernel/pid_max"
)

// flockWait takes how on path, waiting up to d.
func flockWait(path string, how int, d time.Duration) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(d)
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SharePIDs holds the pid lock shared until release is called: call it
// from TestMain of a package whose tests match processes by pid. Without
// /run/lock (or without root) it does nothing: then no test can lower
// pid_max either.
func SharePIDs() (release func()) {
	if os.Geteuid() != 0 {
		return func() {}
	}
	rel, err := flockWait(pidsLockPath, unix.LOCK_SH, 15*time.Minute)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return func() {}
	}
	return rel
}

// RestorePidMax puts back a pid_max that a killed run left lowered.
func RestorePidMax() error {
	b, err := os.ReadFile(pidMaxSaved)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(pidMaxPath, b, 0o644); err != nil {
		return fmt.Errorf("restoring kernel.pid_max to %s: %w", strings.TrimSpace(string(b)), err)
	}
	return os.Remove(pidMaxSaved)
}

// LowerPidMax sets kernel.pid_max to n until the test ends, also on
// SIGINT/SIGTERM, holding the pid lock exclusively meanwhile. It skips
// unless root may write pid_max.
func LowerPidMax(t testing.TB, n int) {
	t.Helper()
	Root(t, "to lower kernel.pid_max")
	orig, err := os.ReadFile(pidMaxPath)
	if err != nil {
		t.Skipf("needs kernel.pid_max: %v", err)
	}
	release, err := flockWait(pidsLockPath, unix.LOCK_EX, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // registered first, so it runs after the restore
	if err := RestorePidMax(); err != nil {
		t.Fatal(err)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(orig))); err == nil && v <= n {
		t.Skipf("needs kernel.pid_max above %d: it is %d", n, v)
	}
	if err := os.WriteFile(pidMaxSaved, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			RestorePidMax()
			os.Exit(130)
		case <-done:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(sig)
		close(done)
		if err := RestorePidMax(); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(pidMaxPath, []byte(strconv.Itoa(n)), 0o644); err != nil {
		t.Skipf("needs a writable kernel.pid_max: %v", err)
	}
}
