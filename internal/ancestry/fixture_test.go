package ancestry

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// fakeProc is a /proc tree in a temp dir, so tests control pids, start
// times and recycling.
type fakeProc struct {
	t    *testing.T
	root string
}

const fakeBoot = 1700000000 // btime of the fixture host

func newFakeProc(t *testing.T) *fakeProc {
	t.Helper()
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "stat"), []byte(fmt.Sprintf("cpu  1 2 3\nbtime %d\n", fakeBoot)), 0o644)
	return &fakeProc{t: t, root: root}
}

// add writes /proc/<pid> for a process started start ticks after boot.
func (f *fakeProc) add(pid, ppid int, start uint64, path string, args ...string) {
	f.t.Helper()
	f.addState(pid, ppid, start, 'S', path, args...)
}

// addZombie writes what /proc shows of a zombie: state Z, no exe link, an
// empty cmdline.
func (f *fakeProc) addZombie(pid, ppid int, start uint64, comm string) {
	f.t.Helper()
	f.addState(pid, ppid, start, 'Z', "")
	dir := filepath.Join(f.root, fmt.Sprint(pid))
	os.Remove(filepath.Join(dir, "exe"))
	os.WriteFile(filepath.Join(dir, "cmdline"), nil, 0o644)
	f.setComm(pid, ppid, start, 'Z', comm)
}

func (f *fakeProc) setComm(pid, ppid int, start uint64, state byte, comm string) {
	stat := fmt.Sprintf("%d (%s) %c %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		pid, comm, state, ppid, pid, pid, start)
	os.WriteFile(filepath.Join(f.root, fmt.Sprint(pid), "stat"), []byte(stat), 0o644)
}

func (f *fakeProc) addState(pid, ppid int, start uint64, state byte, path string, args ...string) {
	dir := filepath.Join(f.root, fmt.Sprint(pid))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	comm := filepath.Base(path)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	f.setComm(pid, ppid, start, state, comm)
	os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644)
	if path != "" {
		os.Symlink(path, filepath.Join(dir, "exe"))
	}
}

func (f *fakeProc) remove(pid int) {
	os.RemoveAll(filepath.Join(f.root, fmt.Sprint(pid)))
}

// fakeClock is a settable wall clock; the fixture host booted at
// fakeBoot exactly, so the boot clock is the wall clock minus that.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *fakeClock) sinceBoot() time.Duration {
	return c.now().Sub(time.Unix(fakeBoot, 0))
}

// tk is a fork event's boot-clock time in the middle of tick n, where the
// tick is taken as the start without asking /proc.
func tk(n uint64) time.Duration {
	return time.Duration(n)*10*time.Millisecond + 5*time.Millisecond
}

// atTicks is the wall-clock time of a tick count since the fixture's boot.
func atTicks(ticks uint64) time.Time {
	return time.Unix(fakeBoot, 0).Add(time.Duration(ticks) * 10 * time.Millisecond)
}

func newFixtureCache(f *fakeProc, capacity int, ttl time.Duration, depth int) (*Cache, *fakeClock) {
	clk := &fakeClock{t: time.Unix(fakeBoot+1000, 0)}
	c := New(Config{Capacity: capacity, TTL: ttl, MaxDepth: depth, Proc: procfs.New(f.root), Now: clk.now, SinceBoot: clk.sinceBoot})
	// Whatever a test did, the bookkeeping must still hold at its end.
	f.t.Cleanup(func() { c.checkInvariants(f.t) })
	return c, clk
}

// element mirrors one ancestry element; decoding it also proves the JSON
// is valid.
type element struct {
	ExeName     string `json:"exe_name"`
	PID         int64  `json:"pid"`
	PPID        int64  `json:"ppid"`
	PProcTimeHR int64  `json:"pproc_time_hr"`
	Path        string `json:"path"`
	Cmdline     string `json:"cmdline"`
	ProcTime    int64  `json:"proc_time"`
	ProcTimeHR  int64  `json:"proc_time_hr"`
}

func decode(t *testing.T, b []byte) []element {
	t.Helper()
	var out []element
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("invalid ancestry JSON %s: %v", b, err)
	}
	return out
}

func pids(es []element) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.PID)
	}
	return out
}
