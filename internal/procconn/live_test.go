package procconn

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/testenv"
)

// These tests subscribe to the real proc connector and spawn real processes.
// They need the initial pid and user namespaces and, before Linux 6.6,
// CAP_NET_ADMIN; when the subscription fails and we are not root they skip
// with the reason. Other processes on the machine produce events too, so
// every check looks for the pids the test itself spawned.

var update = flag.Bool("update", false, "capture testdata/*.hex from this machine's proc connector")

const helperEnv = "GOSQUERY_PROCCONN_HELPER"

// TestMain doubles as the helper processes some tests spawn: the test binary
// re-executed with helperEnv set.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "threads":
		os.Exit(helperThreads())
	case "comm":
		os.Exit(helperComm())
	case "listen":
		os.Exit(helperListen())
	default:
		os.Exit(3)
	}
	// Events are matched to the processes spawned by pid.
	release := testenv.SharePIDs()
	code := m.Run()
	release()
	os.Exit(code)
}

// helperThreads starts goroutines locked to their threads and blocked in a
// syscall, which makes the runtime create threads; they end while the
// process lives because a goroutine that exits locked takes its thread
// with it.
func helperThreads() int {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread()
			ts := unix.Timespec{Nsec: 30e6}
			_ = unix.Nanosleep(&ts, nil)
		})
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	return 0
}

// helperComm renames itself, which produces a COMM event.
func helperComm() int {
	name := []byte("procconn-comm\x00")
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return 1
	}
	return 0
}

// helperListen is the unprivileged check: subscribe, run /bin/true, and
// report whether its exec was seen.
func helperListen() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Listen(ctx)
	if errors.Is(err, ErrUnavailable) {
		fmt.Println("unavailable:", err)
		return 4
	}
	if err != nil {
		fmt.Println("listen:", err)
		return 2
	}
	defer l.Close()
	c := runCollector(l)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		fmt.Println("true:", err)
		return 2
	}
	pid := int32(cmd.Process.Pid)
	if _, ok := c.wait(5*time.Second, hasExit(pid)); !ok {
		fmt.Println("no exit event for", pid)
		return 1
	}
	evs := c.events()
	if len(find(evs, func(e Event) bool { return e.Kind == Exec && e.TGID == pid })) != 1 {
		fmt.Println("no exec event for", pid)
		return 1
	}
	fmt.Printf("ok uid=%d filtered=%v rcvbuf=%d\n", os.Geteuid(), l.Filtered(), l.RcvBuf())
	return 0
}

// collector gathers events from a Listener in the background.
type collector struct {
	mu   sync.Mutex
	evs  []Event
	raw  [][]byte // raw mode only
	done chan error
}

// runCollector consumes through Run, as the ancestry cache will.
func runCollector(l *Listener) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		c.done <- l.Run(context.Background(), func(e Event) {
			c.mu.Lock()
			c.evs = append(c.evs, e)
			c.mu.Unlock()
		})
	}()
	return c
}

// rawCollector takes the reader's datagrams directly, bypassing Run, to
// keep them for testdata and to see the kinds Run does not deliver.
func rawCollector(l *Listener) *collector {
	c := &collector{done: make(chan error, 1)}
	add := func(d []byte) {
		evs, _ := ParseMessage(d)
		c.mu.Lock()
		c.raw = append(c.raw, d)
		c.evs = append(c.evs, evs...)
		c.mu.Unlock()
	}
	for _, d := range l.pending {
		add(d)
	}
	l.pending = nil
	go func() {
		for d := range l.ch {
			add(d)
		}
		c.done <- nil
	}()
	return c
}

func (c *collector) events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// wait polls until cond holds on the events so far.
func (c *collector) wait(timeout time.Duration, cond func([]Event) bool) ([]Event, bool) {
	deadline := time.Now().Add(timeout)
	for {
		evs := c.events()
		if cond(evs) {
			return evs, true
		}
		if time.Now().After(deadline) {
			return evs, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasExit(pids ...int32) func([]Event) bool {
	return func(evs []Event) bool {
		for _, p := range pids {
			if len(find(evs, func(e Event) bool { return e.Kind == Exit && e.PID == p })) == 0 {
				return false
			}
		}
		return true
	}
}

func waitT(t *testing.T, c *collector, what string, cond func([]Event) bool) []Event {
	t.Helper()
	evs, ok := c.wait(10*time.Second, cond)
	if !ok {
		t.Fatalf("timed out waiting for %s (%d events collected)", what, len(evs))
	}
	return evs
}

func listenOrSkip(t testing.TB, cfg config) *Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := listen(ctx, cfg)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			t.Skipf("needs the proc connector: %v", err)
		}
		if os.Geteuid() != 0 {
			t.Skipf("proc connector subscription failed as uid %d (needs Linux 6.6+ or CAP_NET_ADMIN, and the initial namespaces): %v", os.Geteuid(), err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func goPID() int32 { return int32(os.Getpid()) }

// The scenarios spawn processes and return their pids by name.

func spawnTree(t testing.TB) map[string]int32 {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 0.05 & wait")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return map[string]int32{"go": goPID(), "sh": int32(cmd.Process.Pid)}
}

func spawnExitCodes(t testing.TB) map[string]int32 {
	t.Helper()
	c3 := exec.Command("sh", "-c", "exit 3")
	var ee *exec.ExitError
	if err := c3.Run(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("sh -c 'exit 3': %v", err)
	}
	ck := exec.Command("sleep", "10")
	if err := ck.Start(); err != nil {
		t.Fatal(err)
	}
	ck.Process.Kill()
	ck.Wait()
	return map[string]int32{"go": goPID(), "exit3": int32(c3.Process.Pid), "killed": int32(ck.Process.Pid)}
}

func helperCmd(t testing.TB, mode string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

func spawnThreads(t testing.TB) map[string]int32 {
	t.Helper()
	cmd := helperCmd(t, "threads")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("thread helper: %v %s", err, out)
	}
	return map[string]int32{"go": goPID(), "helper": int32(cmd.Process.Pid)}
}

// spawnUnfiltered asks for an ack with a known seq, runs /bin/true after
// setsid, setgid and setuid (root only), and the comm helper.
func spawnUnfiltered(t testing.TB, l *Listener) map[string]int32 {
	t.Helper()
	ack := ackNumber()
	if err := l.send(subscribeMessage(procCnMcastListen, 0, ackNumber(), ack, l.portID)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	cc := helperCmd(t, "comm")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("comm helper: %v %s", err, out)
	}
	return map[string]int32{"go": goPID(), "cred": int32(cmd.Process.Pid), "comm": int32(cc.Process.Pid), "ack": int32(ack)}
}

func TestListenTree(t *testing.T) {
	l := listenOrSkip(t, config{})
	if kernelAtLeast(6, 6) && !l.Filtered() {
		t.Error("Linux 6.6+ but the event filter was not accepted")
	}
	c := runCollector(l)
	pids := spawnTree(t)
	evs := waitT(t, c, "exit of sh", hasExit(pids["sh"]))
	checkTree(t, evs, pids["go"], pids["sh"])
	for _, e := range evs {
		if e.Kind != Fork && e.Kind != Exec && e.Kind != Exit {
			t.Errorf("Run delivered a %s event", e.Kind)
		}
	}
	st := l.Stats()
	if l.Filtered() && st.Other != 0 {
		t.Errorf("filtered subscription received %d other events", st.Other)
	}
	if st.Forks < 2 || st.Execs < 2 || st.Exits < 2 || st.Datagrams < 6 || st.ParseErrors != 0 || st.Foreign != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("filtered=%v rcvbuf=%d stats=%+v", l.Filtered(), l.RcvBuf(), st)
}

func TestListenExitCodes(t *testing.T) {
	l := listenOrSkip(t, config{})
	c := runCollector(l)
	pids := spawnExitCodes(t)
	evs := waitT(t, c, "exits", hasExit(pids["exit3"], pids["killed"]))
	checkExitCodes(t, evs, pids["exit3"], pids["killed"])
}

func TestListenThreads(t *testing.T) {
	l := listenOrSkip(t, config{})
	c := runCollector(l)
	pids := spawnThreads(t)
	evs := waitT(t, c, "exit of helper", hasExit(pids["helper"]))
	checkThreads(t, evs, pids["go"], pids["helper"])
}

// TestListenUnfiltered covers the plain PROC_CN_MCAST_LISTEN subscription
// (the fallback for kernels before 6.6): every kind arrives, Run delivers
// only fork, exec and exit, and counts the rest.
func TestListenUnfiltered(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to spawn a child with setuid/setgid")
	}
	l := listenOrSkip(t, config{noFilter: true})
	if l.Filtered() {
		t.Fatal("noFilter listener reports a filter")
	}
	c := rawCollector(l)
	pids := spawnUnfiltered(t, l)
	evs := waitT(t, c, "ack, cred and comm events", unfilteredDone(pids))
	checkUnfiltered(t, evs, pids["cred"], pids["comm"], uint32(pids["ack"]))

}

// TestListenFallback is the plain subscription through Run, unprivileged
// if need be: only fork, exec and exit are delivered, the rest counted.
func TestListenFallback(t *testing.T) {
	l := listenOrSkip(t, config{noFilter: true})
	c := runCollector(l)
	pids := spawnTree(t)
	cc := helperCmd(t, "comm")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("comm helper: %v %s", err, out)
	}
	comm := int32(cc.Process.Pid)
	evs := waitT(t, c, "exits", hasExit(pids["sh"], comm))
	checkTree(t, evs, pids["go"], pids["sh"])
	for _, e := range evs {
		if e.Kind != Fork && e.Kind != Exec && e.Kind != Exit {
			t.Errorf("Run delivered a %s event", e.Kind)
		}
	}
	// At least the helper's COMM event.
	if st := l.Stats(); st.Other < 1 {
		t.Errorf("Other = %d, want at least 1: %+v", st.Other, st)
	}
}

// TestListenForeign sends a fake fork event from another socket straight to
// the listener's port: it must be counted and ignored, not delivered.
func TestListenForeign(t *testing.T) {
	l := listenOrSkip(t, config{})
	c := runCollector(l)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fake := datagram(Fork, 1, 1, 1, 424242, 424242)
	if err := unix.Sendto(fd, fake, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: l.portID}); err != nil {
		t.Skipf("cannot send to the listener's port: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Foreign == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := l.Stats(); st.Foreign != 1 {
		t.Errorf("Foreign = %d, want 1", st.Foreign)
	}
	pids := spawnTree(t)
	evs := waitT(t, c, "exit of sh", hasExit(pids["sh"]))
	if len(find(evs, func(e Event) bool { return e.PID == 424242 })) != 0 {
		t.Error("the fake fork was delivered")
	}
}

func unfilteredDone(pids map[string]int32) func([]Event) bool {
	return func(evs []Event) bool {
		return hasExit(pids["cred"], pids["comm"])(evs) &&
			len(find(evs, func(e Event) bool { return e.Kind == Ack && e.AckNum == uint32(pids["ack"])+1 })) > 0
	}
}

// procStartTicks reads field 22 of /proc/<pid>/stat, splitting after the
// last ')' because comm may contain spaces and parentheses.
func procStartTicks(pid int32) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ) in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("short stat %q", b)
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
}

// TestListenStartTicks checks that a fork event's Ticks is the child's
// start time as /proc reports it (±1 tick), for direct children and for a
// grandchild, while they still run.
func TestListenStartTicks(t *testing.T) {
	l := listenOrSkip(t, config{})
	c := runCollector(l)
	hist := map[int64]int{}
	check := func(pid int32) {
		t.Helper()
		evs := waitT(t, c, "fork of "+strconv.Itoa(int(pid)), func(evs []Event) bool {
			return len(find(evs, func(e Event) bool { return e.Kind == Fork && e.ChildTGID == pid })) > 0
		})
		f := one(t, evs, "fork", func(e Event) bool { return e.Kind == Fork && e.ChildTGID == pid })
		st, err := procStartTicks(pid)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		d := int64(f.Ticks) - int64(st)
		hist[d]++
		if d < -1 || d > 1 {
			t.Errorf("pid %d: fork event ticks %d (%d ns), /proc starttime %d", pid, f.Ticks, f.MonotonicNS, st)
		}
	}
	for range 20 {
		cmd := exec.Command("sleep", "5")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		check(int32(cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
	}
	sh := exec.Command("sh", "-c", "sleep 5 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	shPID := int32(sh.Process.Pid)
	evs := waitT(t, c, "exec of sh's child", func(evs []Event) bool {
		for _, f := range find(evs, func(e Event) bool { return e.Kind == Fork && e.ParentTGID == shPID && !e.IsThread() }) {
			if len(find(evs, func(e Event) bool { return e.Kind == Exec && e.TGID == f.ChildTGID })) > 0 {
				return true
			}
		}
		return false
	})
	gc := one(t, evs, "fork by sh", func(e Event) bool { return e.Kind == Fork && e.ParentTGID == shPID })
	check(gc.ChildTGID)
	unix.Kill(int(gc.ChildTGID), unix.SIGKILL)
	sh.Process.Kill()
	sh.Wait()
	t.Logf("event ticks - /proc ticks: %v", hist)
}

// TestListenBurst500 runs 500 /bin/true from a shell loop as fast as it
// goes and expects every fork, exec and exit, with no overrun or drop.
func TestListenBurst500(t *testing.T) {
	const n = 500
	l := listenOrSkip(t, config{})
	c := runCollector(l)
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt "+strconv.Itoa(n)+" ]; do /bin/true; i=$((i+1)); done")
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	sh := int32(cmd.Process.Pid)
	evs := waitT(t, c, "exit of the loop", hasExit(sh))
	children := map[int32]bool{}
	for _, f := range find(evs, func(e Event) bool { return e.Kind == Fork && e.ParentTGID == sh }) {
		if f.IsThread() {
			t.Errorf("thread fork from sh: %+v", f)
		}
		children[f.ChildTGID] = true
	}
	if len(children) != n {
		t.Fatalf("%d forks from the loop, want %d", len(children), n)
	}
	execs, exits := map[int32]bool{}, map[int32]bool{}
	reaped := 0
	for _, e := range evs {
		if !children[e.TGID] {
			continue
		}
		switch e.Kind {
		case Exec:
			execs[e.TGID] = true
		case Exit:
			if e.ExitCode != 0 || (e.ParentTGID != sh && e.ParentTGID != 0) {
				t.Errorf("exit %+v", e)
			}
			if e.ParentTGID == 0 {
				// sh reaped the child before the kernel sent the event.
				reaped++
			}
			exits[e.TGID] = true
		}
	}
	if len(execs) != n || len(exits) != n {
		t.Errorf("%d execs and %d exits of %d children", len(execs), len(exits), n)
	}
	st := l.Stats()
	if st.Lost() || st.ParseErrors != 0 {
		t.Errorf("loss: %+v", st)
	}
	t.Logf("%d processes in %v (%.0f/s); %d exits without parent; stats %+v", n, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), reaped, st)
}

// forkBurst runs n subshells (fork and exit, no exec): the cheapest way to
// make events from a shell.
func forkBurst(t testing.TB, n int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt "+strconv.Itoa(n)+" ]; do ( : ); i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestListenDrops stalls Run behind a tiny channel: the reader keeps
// draining the socket and counts what it cannot hand over.
func TestListenDrops(t *testing.T) {
	l := listenOrSkip(t, config{chanCap: 4})
	release := make(chan struct{})
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- l.Run(context.Background(), func(Event) {
			<-release
			got.Add(1)
		})
	}()
	forkBurst(t, 200)
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Drops == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	st := l.Stats()
	if st.Drops == 0 || !st.Lost() {
		t.Errorf("no drops with a stalled Run: %+v", st)
	}
	if st.Overruns != 0 {
		t.Errorf("the reader did not keep up with the kernel: %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	t.Logf("stats %+v, delivered %d", st, got.Load())
}

// TestListenOverrun stalls the reader itself with a minimal socket buffer:
// the kernel drops events and recvfrom reports ENOBUFS, counted as Overruns.
func TestListenOverrun(t *testing.T) {
	var armed atomic.Bool
	release := make(chan struct{})
	l := listenOrSkip(t, config{rcvBuf: 1, beforeRecv: func() {
		if armed.Load() {
			<-release
		}
	}})
	armed.Store(true)
	c := runCollector(l)
	forkBurst(t, 200)
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Overruns == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := l.Stats()
	if st.Overruns == 0 || !st.Lost() {
		t.Errorf("no overrun with a stalled reader and a %d-byte buffer: %+v", l.RcvBuf(), st)
	}
	// The subscription survives an overrun.
	pids := spawnTree(t)
	waitT(t, c, "events after the overrun", hasExit(pids["sh"]))
	t.Logf("rcvbuf %d, stats %+v", l.RcvBuf(), st)
}

// Sync returns only once the fork of a process started before the call has
// been through Run: right after cmd.Start the kernel has queued the fork,
// but the reader may be pausing (nlbatch.CoalesceDelay) or Run not yet
// done with it. Run is made slow so that a Sync that does not wait fails.
func TestSyncDeliversQueuedForks(t *testing.T) {
	l := listenOrSkip(t, config{})
	var mu sync.Mutex
	forked := map[int32]bool{}
	go l.Run(context.Background(), func(e Event) {
		time.Sleep(200 * time.Microsecond)
		if e.Kind == Fork {
			mu.Lock()
			forked[e.ChildTGID] = true
			mu.Unlock()
		}
	})
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 30; i++ {
		cmd := exec.Command("/bin/true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !l.Sync(5 * time.Second) {
			t.Fatalf("round %d: Sync timed out", i)
		}
		mu.Lock()
		ok := forked[int32(cmd.Process.Pid)]
		mu.Unlock()
		cmd.Wait()
		if !ok {
			t.Fatalf("round %d: Sync returned before the fork of %d was delivered", i, cmd.Process.Pid)
		}
	}
	// Closed: Sync returns instead of waiting for its timeout.
	l.Close()
	start := time.Now()
	l.Sync(time.Minute)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Sync on a closed listener took %v", d)
	}
}

// A consumer that is behind makes SyncSince time out once; until it has
// delivered what that call waited for, later calls give up at once instead
// of each waiting the timeout; then they wait again. A since that a
// finished round already covers needs no new round.
func TestSyncSinceBehindConsumer(t *testing.T) {
	l := listenOrSkip(t, config{})
	release := make(chan struct{})
	var stalled atomic.Bool
	stalled.Store(true)
	go l.Run(context.Background(), func(e Event) {
		if stalled.Load() {
			<-release
		}
	})
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	if l.SyncSince(time.Now(), 50*time.Millisecond) {
		t.Fatal("SyncSince succeeded with a stalled consumer")
	}
	start := time.Now()
	if l.SyncSince(time.Now(), 5*time.Second) {
		t.Fatal("SyncSince succeeded while still behind")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a behind consumer was waited for again (%v)", d)
	}
	stalled.Store(false)
	close(release)
	if !testenv.Eventually(5*time.Second, time.Millisecond, func() bool { return l.SyncSince(time.Now(), time.Second) }) {
		t.Fatal("SyncSince did not recover once the consumer caught up")
	}
	// Long past: covered by a round that has finished.
	past := time.Now()
	exec.Command("/bin/true").Run()
	if !l.SyncSince(past, time.Second) {
		t.Fatal("SyncSince of a covered instant failed")
	}
}

func TestRunAndClose(t *testing.T) {
	l := listenOrSkip(t, config{})
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background(), func(Event) {}) }()
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := l.Run(context.Background(), func(Event) {}); err == nil {
		t.Error("second concurrent Run accepted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after Close", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Run(context.Background(), func(Event) {}); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestRunContext(t *testing.T) {
	l := listenOrSkip(t, config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx, func(Event) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want deadline exceeded", err)
	}
	// A later Run continues.
	c := runCollector(l)
	pids := spawnTree(t)
	waitT(t, c, "exit of sh", hasExit(pids["sh"]))
}

func TestListenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, err := Listen(ctx)
	if err == nil {
		l.Close()
		t.Fatal("Listen with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnavailable) {
		t.Errorf("Listen = %v", err)
	}
}

// requireConnector skips unless a subscription works here.
func requireConnector(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Probe(ctx); errors.Is(err, ErrUnavailable) {
		t.Skipf("needs the proc connector: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// A subscriber in a network namespace of its own gets nothing from the
// kernel; Listen must say that the feature is unavailable (which tests and
// the daemon report as such), not fail with a bare errno.
func TestListenOutsideInitialNetNS(t *testing.T) {
	testenv.Root(t, "a child in a new network namespace")
	requireConnector(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=listen")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 || !strings.Contains(string(out), "initial network namespace") {
		t.Fatalf("in a new network namespace: %v: %s", err, out)
	}
}

// TestListenUnprivileged runs the subscription as nobody, with no
// capabilities: accepted since Linux 6.6.
func TestListenUnprivileged(t *testing.T) {
	testenv.Root(t, "to switch to nobody (without root the other tests already ran unprivileged)")
	if !kernelAtLeast(6, 6) {
		t.Skip("needs Linux 6.6: before it the proc connector needs CAP_NET_ADMIN")
	}
	requireConnector(t)
	// The test binary's build directory is private; nobody needs a copy it
	// can execute.
	dir, err := os.MkdirTemp("", "procconn-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "procconn.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = []string{helperEnv + "=listen", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok uid=65534") {
		t.Fatalf("as nobody: %v: %s", err, out)
	}
	t.Logf("as nobody: %s", bytes.TrimSpace(out))
}

// TestCapture rewrites testdata/*.hex from this machine (go test -run
// TestCapture -update, as root): each scenario's datagrams, filtered to
// the pids it spawned and their descendants, with those pids as meta.
func TestCapture(t *testing.T) {
	if !*update {
		t.Skip("run with -update to capture testdata from the kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("capture needs root (the unfiltered scenario changes credentials)")
	}
	scenarios := []struct {
		name, what string
		cfg        config
		spawn      func(testing.TB, *Listener) map[string]int32
		done       func(map[string]int32) func([]Event) bool
	}{
		{"tree", "sh -c 'sleep 0.05 & wait' spawned by the Go test process (go)", config{},
			func(t testing.TB, _ *Listener) map[string]int32 { return spawnTree(t) },
			func(p map[string]int32) func([]Event) bool { return hasExit(p["sh"]) }},
		{"exitcodes", "sh -c 'exit 3' (exit3) and sleep 10 killed by SIGKILL (killed)", config{},
			func(t testing.TB, _ *Listener) map[string]int32 { return spawnExitCodes(t) },
			func(p map[string]int32) func([]Event) bool { return hasExit(p["exit3"], p["killed"]) }},
		{"threads", "a Go helper (helper) starting and ending threads", config{},
			func(t testing.TB, _ *Listener) map[string]int32 { return spawnThreads(t) },
			func(p map[string]int32) func([]Event) bool { return hasExit(p["helper"]) }},
		{"unfiltered", "plain PROC_CN_MCAST_LISTEN: the ack to ack number ack, /bin/true after setsid+setgid+setuid (cred), a helper calling prctl(PR_SET_NAME) (comm)",
			config{noFilter: true}, spawnUnfiltered, unfilteredDone},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			l := listenOrSkip(t, sc.cfg)
			c := rawCollector(l)
			pids := sc.spawn(t, l)
			waitT(t, c, sc.name, sc.done(pids))
			l.Close()
			<-c.done
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "# procconn capture (go test -run TestCapture -update), kernel %s, filtered=%v\n", release(), l.Filtered())
			fmt.Fprintf(&buf, "# %s\n", sc.what)
			fmt.Fprintf(&buf, "# meta")
			for _, k := range slices.Sorted(maps.Keys(pids)) {
				fmt.Fprintf(&buf, " %s=%d", k, pids[k])
			}
			buf.WriteString("\n")
			tracked := map[int32]bool{}
			for k, p := range pids {
				if k != "go" && k != "ack" {
					tracked[p] = true
				}
			}
			kept := 0
			for _, d := range c.raw {
				evs, err := ParseMessage(d)
				if err != nil || len(evs) != 1 {
					t.Fatalf("captured datagram % x: %v", d, err)
				}
				e := evs[0]
				keep := tracked[e.TGID] ||
					(e.Kind == Fork && tracked[e.ParentTGID] && !e.IsThread()) ||
					(e.Kind == Ack && pids["ack"] != 0 && e.AckNum == uint32(pids["ack"])+1)
				if e.Kind == Fork && tracked[e.ParentTGID] && !e.IsThread() {
					tracked[e.ChildTGID] = true
				}
				if keep {
					fmt.Fprintf(&buf, "# %s pid=%d tgid=%d\n%s\n", e.Kind, e.PID, e.TGID, hex.EncodeToString(d))
					kept++
				}
			}
			if err := os.WriteFile(filepath.Join("testdata", sc.name+".hex"), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: kept %d of %d datagrams", sc.name, kept, len(c.raw))
		})
	}
}

func release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// BenchmarkRecvfrom is the raw cost of one recvfrom of a queued event: a
// burst of subshells fills the socket (not timed), then the queue is
// drained and timed separately. Reported as ns/datagram; ns/op is a whole
// burst, so that the benchmark framework runs only a few of them.
func BenchmarkRecvfrom(b *testing.B) {
	const burst = 300 // subshells: about 2 events each
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		b.Skip(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		b.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
		b.Skip("SO_RCVBUFFORCE:", err)
	}
	sub := subscribeMessage(procCnMcastListen, subscribeMask, ackNumber(), 0, 0)
	if err := unix.Sendto(fd, sub, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		b.Fatal(err)
	}
	defer unix.Sendto(fd, subscribeMessage(procCnMcastIgnore, 0, ackNumber(), 0, 0), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	buf := make([]byte, maxMessage)
	drain := func() (n int) {
		for {
			_, _, err := recvfrom(uintptr(fd), buf)
			if err == unix.EAGAIN {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	drain()
	var total int
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		forkBurst(b, burst)
		t0 := time.Now()
		total += drain()
		elapsed += time.Since(t0)
	}
	if total == 0 {
		b.Fatal("no datagrams")
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(total), "ns/datagram")
	b.ReportMetric(float64(total)/float64(b.N), "datagrams/op")
}

// recvfrom receives one datagram without allocating (unix.Recvfrom
// allocates the source address). With MSG_TRUNC, n is the datagram's real
// length even when it did not fit; from is the sender's port id.
func recvfrom(fd uintptr, buf []byte) (n int, from uint32, err error) {
	var sa unix.RawSockaddrNetlink
	salen := uint32(unix.SizeofSockaddrNetlink)
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_TRUNC,
		uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
	if e != 0 {
		return 0, 0, e
	}
	return int(r), sa.Pid, nil
}
