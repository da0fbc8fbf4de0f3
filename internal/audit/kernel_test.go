package audit

// The harness of the tests against the real kernel (TestKernel* in
// client_test.go and source_test.go). They need root (CI runs as root on
// the same kind of VM) and skip with the reason otherwise. The audit state
// is machine-global, so they run serially under LockForTests, use a
// per-run key, and put the state back after every test (t.Cleanup) and
// once more when the binary ends or is interrupted (TestMain). Helper
// processes (a second registrant, a Source to SIGKILL) are this test
// binary re-executed with GOSQUERY_AUDIT_HELPER set.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/testenv"
)

var update = flag.Bool("update", false, "capture real datagrams into testdata/ (root) and rewrite golden files")

const (
	helperEnv    = "GOSQUERY_AUDIT_HELPER"
	helperKeyEnv = "GOSQUERY_AUDIT_HELPER_KEY"
	testKeyPre   = "gosquery-test-"
)

var (
	testKey       = testKeyPre + strconv.Itoa(os.Getpid())
	kernelOnce    sync.Once
	kernelSkip    string
	kernelOrig    Status
	kernelRelease = func() {}
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	flag.Parse()
	// Events are matched to the processes spawned by pid; the pid lock is
	// taken before the audit lock (testenv/pids.go).
	release := testenv.SharePIDs()
	code := runTests(m)
	release()
	os.Exit(code)
}

func runTests(m *testing.M) int {
	// The guard: whatever the tests did or failed to undo is put back
	// before the process ends (and on SIGINT/SIGTERM, see
	// setupKernelTests).
	defer func() { kernelRelease() }()
	return m.Run()
}

// setupKernelTests decides whether kernel tests can run, takes the lock,
// snapshots the state, and returns what puts it back. It runs on the first
// kernel test only, so unit tests and fuzz workers never wait for the lock.
func setupKernelTests() (release func()) {
	if os.Geteuid() != 0 {
		kernelSkip = "needs root: audit control requires CAP_AUDIT_CONTROL"
		return func() {}
	}
	c, err := NewClient()
	if err != nil {
		kernelSkip = "audit netlink unavailable: " + err.Error()
		return func() {}
	}
	_, err = c.GetStatus()
	c.Close()
	if err != nil {
		kernelSkip = "AUDIT_GET failed (container or no CONFIG_AUDIT?): " + err.Error()
		return func() {}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	unlock, err := LockForTests(ctx, "")
	cancel()
	if err != nil {
		kernelSkip = err.Error()
		return func() {}
	}
	// Read the state only once we hold the lock: whoever held it before
	// has put theirs back by now.
	c, err = NewClient()
	if err == nil {
		kernelOrig, err = c.GetStatus()
		c.Close()
	}
	if err != nil {
		unlock()
		kernelSkip = "AUDIT_GET failed: " + err.Error()
		return func() {}
	}
	if kernelOrig.PID != 0 && !pidAlive(kernelOrig.PID) {
		kernelOrig.PID = 0 // a dead owner (a crashed run) is no owner
	}
	// Rules a crashed earlier run of these tests left behind.
	if err := restoreKernel(); err != nil {
		fmt.Fprintln(os.Stderr, "audit tests: cleaning leftovers:", err)
	}
	kernelSkip = ""
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		if _, ok := <-sig; ok {
			restoreKernel()
			os.Exit(130)
		}
	}()
	return func() {
		signal.Stop(sig)
		close(sig)
		if err := restoreKernel(); err != nil {
			fmt.Fprintln(os.Stderr, "audit tests: restoring the audit state:", err)
		}
		unlock()
	}
}

func isTestKey(k string) bool {
	if k == testKey || strings.HasPrefix(k, testKey+"-") {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(k, testKeyPre))
	return strings.HasPrefix(k, testKeyPre) && err == nil && pid > 0 && !pidAlive(uint32(pid))
}

func restoreKernel() error { return RestoreState(kernelOrig, isTestKey) }

// kernelTest skips unless the kernel tests can run and restores and checks
// the audit state when the test ends, whatever happened.
func kernelTest(t *testing.T) {
	t.Helper()
	kernelOnce.Do(func() { kernelRelease = setupKernelTests() })
	if kernelSkip != "" {
		t.Skip(kernelSkip)
	}
	t.Cleanup(func() {
		if err := restoreKernel(); err != nil {
			t.Errorf("restoring the audit state: %v", err)
		}
		c, err := NewClient()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		st, err := c.GetStatus()
		if err != nil {
			t.Error(err)
			return
		}
		if st.Enabled != kernelOrig.Enabled || st.PID != kernelOrig.PID || st.BacklogLimit != kernelOrig.BacklogLimit || st.BacklogWaitTime != kernelOrig.BacklogWaitTime {
			t.Errorf("audit state not restored: %v, was %v", st, kernelOrig)
		}
		if n := countRules(t, c, testKey); n != 0 {
			t.Errorf("%d rules with key %s left", n, testKey)
		}
	})
}

func countRules(t *testing.T, c *Client, key string) int {
	t.Helper()
	rules, err := c.ListRules()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rules {
		if r.Key() == key {
			n++
		}
	}
	return n
}

func rulesWithKey(t *testing.T, key string) []Rule {
	t.Helper()
	var out []Rule
	for _, r := range listRules(t) {
		if r.Key() == key {
			out = append(out, r)
		}
	}
	return out
}

// listRules returns the kernel's audit rules, in the kernel's order.
func listRules(t *testing.T) []Rule {
	t.Helper()
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rules, err := c.ListRules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// keysBefore returns the keys of the rules listed before the first rule
// with key: the rules the kernel tries first.
func keysBefore(t *testing.T, key string) []string {
	t.Helper()
	var keys []string
	for _, r := range listRules(t) {
		if r.Key() == key {
			break
		}
		keys = append(keys, r.Key())
	}
	return keys
}

func kernelStatus(t *testing.T) Status {
	t.Helper()
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newMarker() string { return fmt.Sprintf("gsq-%d-%08x", os.Getpid(), rand.Uint32()) }

// sink collects what a Source hands over, and every datagram it saw.
type sink struct {
	mu     sync.Mutex
	events []Event
	raw    [][]byte
	notify chan struct{}
}

func (s *sink) add(ev Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func testConfig() Config {
	return Config{AllowConfig: true, Key: testKey, BacklogLimit: 8192, BacklogWaitTime: 250, StatusInterval: 200 * time.Millisecond}
}

// startSource opens a Source and runs it into a sink until the test ends.
func startSource(t *testing.T, cfg Config) (*Source, *sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	sk := &sink{notify: make(chan struct{}, 1)}
	src.tap = func(d []byte) {
		sk.mu.Lock()
		if len(sk.raw) < 200000 {
			sk.raw = append(sk.raw, bytes.Clone(d))
		}
		sk.mu.Unlock()
	}
	done := make(chan error, 1)
	go func() { done <- src.Run(context.Background(), sk.add) }()
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return src, sk
}

// waitExec waits for a decoded exec satisfying pred.
func (s *sink) waitExec(t *testing.T, timeout time.Duration, pred func(Exec) bool) (Exec, Event) {
	t.Helper()
	deadline := time.After(timeout)
	next := 0
	for {
		s.mu.Lock()
		evs := s.events[next:]
		next = len(s.events)
		s.mu.Unlock()
		for _, ev := range evs {
			if x, ok := DecodeExec(ev); ok && pred(x) {
				return x, ev
			}
		}
		select {
		case <-s.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no matching exec within %v", timeout)
		}
	}
}

// datagramsOf returns the datagrams carrying records of serial.
func (s *sink) datagramsOf(serial uint64) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, d := range s.raw {
		recs, _ := ParseMessages(d)
		if len(recs) > 0 && recs[0].Serial == serial {
			out = append(out, d)
		}
	}
	return out
}

// saveCapture writes datagrams to testdata/<name>.hex when -update is set:
// comment lines first, then one datagram per line in hex.
func saveCapture(t *testing.T, name string, comments []string, dgrams [][]byte) {
	t.Helper()
	if !*update {
		return
	}
	var b strings.Builder
	for _, c := range comments {
		b.WriteString("# " + c + "\n")
	}
	for _, d := range dgrams {
		b.WriteString(hex.EncodeToString(d) + "\n")
	}
	path := filepath.Join("testdata", name+".hex")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("captured %d datagrams into %s", len(dgrams), path)
}

func argvIs(want ...string) func(Exec) bool {
	return func(x Exec) bool { return slices.Equal(x.Argv, want) }
}

// helperCmd re-executes the test binary as a helper process.
func helperCmd(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperKeyEnv+"="+testKey)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewReader(out), stdin
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		s, _ := r.ReadString('\n')
		ch <- strings.TrimSpace(s)
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not answer")
		return ""
	}
}

// runHelper is the body of a helper process.
func runHelper(mode string) int {
	switch mode {
	case "own":
		// Hold the daemon slot, reading (and discarding) what the kernel
		// sends, until stdin closes; then give the slot back.
		c, err := NewClient()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if err := c.SetStatus(Status{Mask: StatusPID, PID: uint32(os.Getpid())}); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		go func() {
			buf := make([]byte, recvBufSize)
			for {
				if _, _, err := c.c.recv(buf); errors.Is(err, os.ErrClosed) {
					return
				}
			}
		}()
		fmt.Println("owned")
		io.Copy(io.Discard, os.Stdin)
		c2, err := NewClient()
		if err == nil {
			err = c2.SetStatus(Status{Mask: StatusPID})
		}
		c.Close()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("released")
		return 0
	case "register":
		// Try to take the slot and to free it while someone else owns it.
		c, err := NewClient()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		defer c.Close()
		fmt.Println("register:", c.SetStatus(Status{Mask: StatusPID, PID: uint32(os.Getpid())}))
		fmt.Println("unregister:", c.SetStatus(Status{Mask: StatusPID}))
		return 0
	case "source":
		// A full Source with extra syscalls (so its rules differ from the
		// parent's), running until killed.
		cfg := testConfig()
		cfg.Key = os.Getenv(helperKeyEnv)
		cfg.Syscalls = append(slices.Clone(ExecSyscalls), "kill")
		src, err := Open(context.Background(), cfg)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("ready", src.Mode())
		src.Run(context.Background(), func(Event) {})
		return 0
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}
