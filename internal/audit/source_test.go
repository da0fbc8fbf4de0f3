package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/testenv"
)

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeNone: "none", ModeDaemon: "daemon", ModeMulticast: "multicast", Mode(9): "none"} {
		if m.String() != want {
			t.Errorf("%d: %s", m, m.String())
		}
	}
}

func TestOpenRejectsUnknownSyscall(t *testing.T) {
	_, err := Open(context.Background(), Config{AllowConfig: true, Syscalls: []string{"execve", "frobnicate"}})
	if err == nil || !strings.Contains(err.Error(), `unknown syscall "frobnicate"`) {
		t.Errorf("err %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Key != DefaultKey || c.BacklogLimit != 4096 || c.BacklogWaitTime != 0 || c.RcvBuf != 32<<20 ||
		len(c.Syscalls) != 2 || c.QueueLen != 65536 || c.Logger == nil || c.Timeout != DefaultTimeout {
		t.Errorf("%+v", c)
	}
	if c := (Config{BacklogLimit: -1, BacklogWaitTime: -1}).withDefaults(); c.BacklogLimit != -1 || c.BacklogWaitTime != -1 {
		t.Errorf("negative values must mean 'leave unchanged': %+v", c)
	}
}

func TestStatsLost(t *testing.T) {
	s := Stats{KernelLost: 1, ENOBUFS: 2, Drops: 3, Truncated: 4, Gaps: 5, Timeouts: 6, Late: 100, Unterminated: 100, Evicted: 100}
	if s.Lost() != 21 {
		t.Errorf("%d", s.Lost())
	}
}

// The self filter and exec counting, without a kernel.
func TestDeliverDropsSelf(t *testing.T) {
	s := &Source{self: 4242}
	var got []Event
	fn := func(ev Event) { got = append(got, ev) }
	self := mkEvent(t, 1, rb{TypeConfig, "op=set audit_pid=4242 old=0 auid=0 ses=1 res=1"}, rb{TypeSyscall, strings.Replace(execSyscall, "pid=26259", "pid=4242", 1)})
	other := notesExecEvent(t)
	user := mkEvent(t, 2, rb{1105, "pid=4242 uid=0 msg='op=x'"})
	for _, ev := range []Event{self, other, user} {
		s.deliver(ev, fn)
	}
	if len(got) != 1 || got[0].Serial != other.Serial || s.selfDropped.Load() != 2 || s.execs.Load() != 1 || s.events.Load() != 1 {
		t.Errorf("delivered %d, self %d, execs %d", len(got), s.selfDropped.Load(), s.execs.Load())
	}
}
func TestKernelDaemonExec(t *testing.T) {
	kernelTest(t)
	src, sk := startSource(t, testConfig())
	if m := src.Mode(); m != ModeDaemon {
		t.Fatalf("mode %v", m)
	}
	st := kernelStatus(t)
	if st.PID != uint32(os.Getpid()) || st.Enabled != Enabled || st.BacklogLimit != 8192 || st.BacklogWaitTime != 250 {
		t.Fatalf("kernel status %v", st)
	}
	if rules := rulesWithKey(t, testKey); len(rules) != 2 {
		t.Fatalf("rules %v", rules)
	}
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	marker := newMarker()
	cmd := exec.Command("/bin/true", marker)
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	x, ev := sk.waitExec(t, 5*time.Second, argvIs("/bin/true", marker))
	// The kernel reports the key of the first rule that matches, so a
	// rule the machine already had (an auditd's, a daemon's left behind by
	// SIGKILL) may name the exec instead of ours.
	keys := append(keysBefore(t, testKey), testKey)
	exe, _ := filepath.EvalSymlinks("/bin/true")
	var fi unix.Stat_t
	if err := unix.Stat("/bin/true", &fi); err != nil {
		t.Fatal(err)
	}
	if x.PID != int64(cmd.Process.Pid) || x.PPID != int64(os.Getpid()) || x.UID != int64(os.Getuid()) ||
		x.EUID != int64(os.Geteuid()) || x.GID != int64(os.Getgid()) || x.Cwd != dir || x.Exe != exe ||
		x.Syscall != "execve" || x.Arch != ArchX86_64 || !slices.Contains(keys, x.Key) || x.Argc != 2 ||
		x.Mode != fmt.Sprintf("0%o", fi.Mode) || x.Inode != fi.Ino || x.Comm != "true" || x.Incomplete {
		t.Errorf("exec %+v\nwant pid %d ppid %d cwd %s exe %s mode 0%o inode %d key in %q", x, cmd.Process.Pid, os.Getpid(), dir, exe, fi.Mode, fi.Ino, keys)
	}
	if d := time.Since(x.Time); d < -2*time.Second || d > 10*time.Second {
		t.Errorf("audit time %v is %v from now", x.Time, d)
	}
	dgrams := sk.datagramsOf(ev.Serial)
	for _, d := range dgrams {
		// Unicast framing: nlmsg_len excludes the header.
		if l := int(uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24); l != len(d)-16 {
			t.Errorf("unicast nlmsg_len %d in %d bytes", l, len(d))
		}
	}
	saveCapture(t, "exec_unicast", []string{"exec of /bin/true <marker> received as the registered audit daemon (unicast framing)", "marker: " + marker}, dgrams)

	// A failed execve (PATH-search style miss) is audited but is no exec.
	missing := "/nonexistent-" + marker + "/x"
	if err := exec.Command(missing).Run(); err == nil {
		t.Fatal("exec of a missing file succeeded")
	}
	var failed Event
	deadline := time.Now().Add(5 * time.Second)
	for failed.Serial == 0 && time.Now().Before(deadline) {
		sk.mu.Lock()
		for _, ev := range sk.events {
			for _, r := range ev.Records {
				if r.Type == TypePath && r.Decoded("name") == missing {
					failed = ev
				}
			}
		}
		sk.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	if failed.Serial == 0 {
		t.Fatal("failed execve not received")
	}
	if _, ok := DecodeExec(failed); ok {
		t.Error("failed execve decoded as an exec")
	}
	if sc, ok := failed.First(TypeSyscall); !ok || sc.Decoded("success") != "no" || sc.Decoded("exit") != "-2" {
		t.Errorf("failed execve record %v", sc.Fields())
	}
	saveCapture(t, "exec_failed", []string{"execve of a missing file: success=no exit=-2, no EXECVE record", "marker: " + marker}, sk.datagramsOf(failed.Serial))

	stats := src.Stats()
	if stats.Execs < 1 || stats.Records == 0 || stats.Kernel.PID != uint32(os.Getpid()) || stats.Mode != ModeDaemon || stats.Rules != 2 || stats.RcvBuf < 32<<20 {
		t.Errorf("stats %+v", stats)
	}
	if stats.ENOBUFS+stats.Drops+stats.Truncated+stats.Timeouts+stats.ParseErrors != 0 {
		t.Errorf("loss or errors: %+v", stats)
	}
	// Close puts everything back (checked again by kernelTest's cleanup)
	// and is safe to call twice.
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	st = kernelStatus(t)
	if st.PID != 0 || st.Enabled != kernelOrig.Enabled || st.BacklogLimit != kernelOrig.BacklogLimit || st.BacklogWaitTime != kernelOrig.BacklogWaitTime {
		t.Errorf("after Close: %v, was %v", st, kernelOrig)
	}
	if n := len(rulesWithKey(t, testKey)); n != 0 {
		t.Errorf("%d rules left after Close", n)
	}
	if src.Mode() != ModeNone {
		t.Errorf("mode after close %v", src.Mode())
	}
}

func TestKernelMulticastAndPersist(t *testing.T) {
	kernelTest(t)
	testenv.Need(t, "audit multicast", MulticastReachable())
	owner, out, stdin := helperCmd(t, "own")
	if s := readLine(t, out); s != "owned" {
		t.Fatalf("helper: %q", s)
	}
	if st := kernelStatus(t); st.PID != uint32(owner.Process.Pid) {
		t.Fatalf("owner pid %d, helper %d", st.PID, owner.Process.Pid)
	}
	cfg := testConfig()
	cfg.Persist = true
	src, sk := startSource(t, cfg)
	if m := src.Mode(); m != ModeMulticast {
		t.Fatalf("mode %v with another daemon registered", m)
	}
	marker := newMarker()
	if err := exec.Command("/bin/true", marker, "multicast").Run(); err != nil {
		t.Fatal(err)
	}
	_, ev := sk.waitExec(t, 5*time.Second, argvIs("/bin/true", marker, "multicast"))
	dgrams := sk.datagramsOf(ev.Serial)
	for _, d := range dgrams {
		if l := int(uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24); l != len(d) {
			t.Errorf("multicast nlmsg_len %d in %d bytes", l, len(d))
		}
	}
	saveCapture(t, "exec_multicast", []string{"exec of /bin/true <marker> multicast read from AUDIT_NLGRP_READLOG while another process was the daemon", "marker: " + marker}, dgrams)

	// The owner goes away: with Persist we take the slot.
	stdin.Close()
	if s := readLine(t, out); s != "released" {
		t.Fatalf("helper: %q", s)
	}
	owner.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for src.Mode() != ModeDaemon && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := src.Mode(); m != ModeDaemon {
		t.Fatalf("not re-acquired: %v", m)
	}
	if st := kernelStatus(t); st.PID != uint32(os.Getpid()) {
		t.Fatalf("owner %d", st.PID)
	}
	marker2 := newMarker()
	if err := exec.Command("/bin/true", marker2).Run(); err != nil {
		t.Fatal(err)
	}
	sk.waitExec(t, 5*time.Second, argvIs("/bin/true", marker2))
	if s := src.Stats(); s.Reacquired != 1 || s.Mode != ModeDaemon {
		t.Errorf("stats %+v", s)
	}
}

func TestKernelSecondRegistrant(t *testing.T) {
	kernelTest(t)
	src, sk := startSource(t, testConfig())
	if src.Mode() != ModeDaemon {
		t.Fatalf("mode %v", src.Mode())
	}
	_, out, _ := helperCmd(t, "register")
	if s := readLine(t, out); s != "register: audit: set status: file exists" {
		t.Errorf("second registrant: %q", s)
	}
	if s := readLine(t, out); s != "unregister: audit: set status: permission denied" {
		t.Errorf("foreign unregister: %q", s)
	}
	// Our own process cannot register twice either.
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetStatus(Status{Mask: StatusPID, PID: uint32(os.Getpid())}); !errors.Is(err, unix.EEXIST) {
		t.Errorf("re-register: %v", err)
	}
	if st := kernelStatus(t); st.PID != uint32(os.Getpid()) {
		t.Errorf("owner %d", st.PID)
	}
	// The attempts made the kernel probe us with AUDIT_REPLACE (binary);
	// it is skipped, not a parse error.
	var replace [][]byte
	deadline := time.Now().Add(3 * time.Second)
	for len(replace) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		sk.mu.Lock()
		for _, d := range sk.raw {
			if msgs, _ := ParseDatagram(d); len(msgs) == 1 && msgs[0].Type == TypeReplace {
				replace = append(replace, d)
			}
		}
		sk.mu.Unlock()
	}
	if len(replace) == 0 {
		t.Fatal("no AUDIT_REPLACE received")
	}
	saveCapture(t, "replace", []string{"AUDIT_REPLACE (1329) probes sent to the daemon when others tried to register: binary pid payload"}, replace)
	if s := src.Stats(); s.ParseErrors != 0 {
		t.Errorf("parse errors %d", s.ParseErrors)
	}
}

func TestKernelCrashRecovery(t *testing.T) {
	kernelTest(t)
	child, out, _ := helperCmd(t, "source")
	if s := readLine(t, out); s != "ready daemon" {
		t.Fatalf("helper: %q", s)
	}
	if st := kernelStatus(t); st.PID != uint32(child.Process.Pid) || st.Enabled != Enabled {
		t.Fatalf("child did not take audit: %v", st)
	}
	// Kill it in the middle of a stream of execs.
	loop := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 300 ]; do /bin/true crash-loop; i=$((i+1)); done`)
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if err := loop.Wait(); err != nil {
		t.Fatal(err)
	}
	stale := rulesWithKey(t, testKey)
	if len(stale) != 2 || !slices.Contains(stale[0].Syscalls(), unix.SYS_KILL) {
		t.Fatalf("the crash should have left its rules: %v", stale)
	}
	src, sk := startSource(t, testConfig())
	if m := src.Mode(); m != ModeDaemon {
		t.Fatalf("mode %v after a crashed owner", m)
	}
	if st := kernelStatus(t); st.PID != uint32(os.Getpid()) {
		t.Fatalf("owner %d", st.PID)
	}
	rules := rulesWithKey(t, testKey)
	want := []Rule{
		SyscallRule(ArchX86_64, syscallNumbers(ArchX86_64, ExecSyscalls), testKey),
		SyscallRule(ArchI386, syscallNumbers(ArchI386, ExecSyscalls), testKey),
	}
	if len(rules) != 2 || !rules[0].Equal(want[0]) || !rules[1].Equal(want[1]) {
		t.Fatalf("stale rules not replaced: %v", rules)
	}
	marker := newMarker()
	if err := exec.Command("/bin/true", marker).Run(); err != nil {
		t.Fatal(err)
	}
	sk.waitExec(t, 5*time.Second, argvIs("/bin/true", marker))
}

func TestKernelHardArguments(t *testing.T) {
	kernelTest(t)
	_, sk := startSource(t, testConfig())
	marker := newMarker()
	args := []string{"/bin/true", marker, "has space", `quote"d`, `'single'`, "new\nline", "tab\there",
		"\xff\xfe\x80 not utf-8", "", "ünïcödé", "back\\slash", "(null)", "414243"}
	for len(args) < 3000 {
		if len(args) == 1500 {
			args = append(args, strings.Repeat("Z", 20000))
			continue
		}
		args = append(args, "arg"+strconv.Itoa(len(args)))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Args = args
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	x, ev := sk.waitExec(t, 10*time.Second, func(x Exec) bool { return len(x.Argv) > 1 && x.Argv[1] == marker })
	if !slices.Equal(x.Argv, args) || x.ArgvIncomplete || x.Argc != len(args) {
		t.Errorf("argv: %d args (incomplete %v), want %d", len(x.Argv), x.ArgvIncomplete, len(args))
		for i := range min(len(x.Argv), len(args)) {
			if x.Argv[i] != args[i] {
				t.Fatalf("first difference at %d: %q, want %q", i, x.Argv[i], args[i])
			}
		}
	}
	n := 0
	for _, r := range ev.Records {
		if r.Type == TypeExecve {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d EXECVE records; expected the arguments to span several", n)
	}

	// A smaller multi-record exec for the golden test data: a chunked
	// argument with a space (hex) over two records.
	marker2 := newMarker()
	args = []string{"/bin/true", marker2, strings.Repeat("chunk ", 1500)}
	for i := 0; i < 400; i++ {
		args = append(args, "a"+strconv.Itoa(i))
	}
	cmd = exec.Command(args[0], args[1:]...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	x, ev = sk.waitExec(t, 10*time.Second, func(x Exec) bool { return len(x.Argv) > 1 && x.Argv[1] == marker2 })
	if !slices.Equal(x.Argv, args) || x.ArgvIncomplete {
		t.Errorf("second argv differs (%d args)", len(x.Argv))
	}
	saveCapture(t, "execve_multirecord", []string{"exec with a 9000-byte argument containing spaces (hex, chunked aN_len/aN[i]) and 400 more: several EXECVE records", "marker: " + marker2}, sk.datagramsOf(ev.Serial))
}

func TestKernelExecLoop(t *testing.T) {
	kernelTest(t)
	src, sk := startSource(t, testConfig())
	const n = 1000
	marker := newMarker()
	loop := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt `+strconv.Itoa(n)+` ]; do /bin/true "$1" $i; i=$((i+1)); done`, "sh", marker)
	start := time.Now()
	if err := loop.Run(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	next := 0
	for len(seen) < n && time.Now().Before(deadline) {
		sk.mu.Lock()
		evs := sk.events[next:]
		next = len(sk.events)
		sk.mu.Unlock()
		for _, ev := range evs {
			if x, ok := DecodeExec(ev); ok && len(x.Argv) == 3 && x.Argv[1] == marker {
				seen[x.Argv[2]] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var missing []int
	for i := 0; i < n; i++ {
		if !seen[strconv.Itoa(i)] {
			missing = append(missing, i)
		}
	}
	st := src.Stats()
	t.Logf("%d execs in %v; stats: records %d events %d execs %d lost %d (kernel %d enobufs %d drops %d gaps %d timeouts %d)",
		n, elapsed, st.Records, st.Events, st.Execs, st.Lost(), st.KernelLost, st.ENOBUFS, st.Drops, st.Gaps, st.Timeouts)
	if len(missing) > 0 {
		t.Errorf("%d of %d execs missing, first %v", len(missing), n, missing[:min(10, len(missing))])
	}
	if st.Lost() != 0 {
		t.Errorf("loss counted: %+v", st)
	}
}

// b32Source execs /bin/true <marker> through int 0x80 from a static 64-bit
// program: the kernel audits it as arch=i386 syscall=11. The strings live
// in .data, below 4 GiB, as 32-bit pointers require.
const b32Source = `
	.section .data
path:	.asciz "/bin/true"
arg1:	.asciz "MARKER"
argv:	.long path, arg1, 0
	.section .text
	.globl _start
_start:
	mov $11, %eax
	mov $path, %ebx
	mov $argv, %ecx
	xor %edx, %edx
	int $0x80
	mov $60, %eax
	mov $1, %edi
	syscall
`

func TestKernelB32Exec(t *testing.T) {
	kernelTest(t)
	testenv.IA32(t)
	gcc := testenv.Command(t, "gcc", "gcc")
	dir := t.TempDir()
	marker := newMarker()
	src := filepath.Join(dir, "b32.S")
	bin := filepath.Join(dir, "b32")
	if err := os.WriteFile(src, []byte(strings.Replace(b32Source, "MARKER", marker, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-nostdlib", "-static", "-no-pie", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cannot build the int 0x80 helper: %v\n%s", err, out)
	}
	_, sk := startSource(t, testConfig())
	cmd := exec.Command(bin)
	if err := cmd.Run(); err != nil {
		t.Fatalf("b32 helper: %v (the int $0x80 probe passed)", err)
	}
	x, ev := sk.waitExec(t, 5*time.Second, argvIs("/bin/true", marker))
	if x.Arch != ArchI386 || x.SyscallNr != 11 || x.Syscall != "execve" || x.PID != int64(cmd.Process.Pid) || x.PPID != int64(os.Getpid()) {
		t.Errorf("b32 exec %+v", x)
	}
	saveCapture(t, "exec_b32", []string{"execve through int 0x80 from a static 64-bit program: arch=40000003 syscall=11", "marker: " + marker}, sk.datagramsOf(ev.Serial))
}

func TestKernelReadOnly(t *testing.T) {
	kernelTest(t)
	before := kernelStatus(t)
	src, _ := startSource(t, Config{Key: testKey})
	if m := src.Mode(); m != ModeMulticast {
		t.Fatalf("mode %v", m)
	}
	if st := kernelStatus(t); st.Enabled != before.Enabled || st.PID != before.PID || st.BacklogLimit != before.BacklogLimit || st.BacklogWaitTime != before.BacklogWaitTime {
		t.Errorf("read-only Source changed the status: %v -> %v", before, st)
	}
	if n := len(rulesWithKey(t, testKey)); n != 0 {
		t.Errorf("read-only Source installed %d rules", n)
	}
}

// A consumer that stalls loses events, and the loss is counted.
func TestKernelLossIsCounted(t *testing.T) {
	kernelTest(t)
	cfg := testConfig()
	cfg.QueueLen = 8
	src, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]bool{}
	marker := newMarker()
	done := make(chan error, 1)
	go func() {
		done <- src.Run(context.Background(), func(ev Event) {
			<-release
			if x, ok := DecodeExec(ev); ok && len(x.Argv) == 3 && x.Argv[1] == marker {
				mu.Lock()
				seen[x.Argv[2]] = true
				mu.Unlock()
			}
		})
	}()
	const n = 200
	loop := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt `+strconv.Itoa(n)+` ]; do /bin/true "$1" $i; i=$((i+1)); done`, "sh", marker)
	if err := loop.Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	time.Sleep(500 * time.Millisecond)
	src.Close()
	<-done
	mu.Lock()
	got := len(seen)
	mu.Unlock()
	st := src.Stats()
	t.Logf("received %d of %d; drops %d, lost %d", got, n, st.Drops, st.Lost())
	if got == n {
		t.Skip("nothing was lost; cannot check the accounting")
	}
	if st.Drops == 0 || st.Lost() == 0 {
		t.Errorf("%d execs missing but no loss counted: %+v", n-got, st)
	}
}

func TestKernelForceReconfigure(t *testing.T) {
	kernelTest(t)
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	had, err := c.ListRules()
	if err != nil {
		t.Fatal(err)
	}
	// ForceReconfigure deletes every rule, so the machine's own rules are
	// put back when the test ends (after the Source has stopped).
	t.Cleanup(func() {
		c, err := NewClient()
		if err != nil {
			t.Errorf("put back the machine's %d rules: %v", len(had), err)
			return
		}
		defer c.Close()
		for _, r := range had {
			if err := c.AddRule(r); err != nil && !errors.Is(err, unix.EEXIST) {
				t.Errorf("put back the machine's rule %v: %v", r, err)
			}
		}
	})
	foreign := SyscallRule(ArchX86_64, []int{unix.SYS_KILL}, testKey+"-foreign")
	if err := c.AddRule(foreign); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ForceReconfigure = true
	startSource(t, cfg)
	rules, err := c.ListRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Key() != testKey || rules[1].Key() != testKey {
		t.Errorf("after ForceReconfigure: %v", rules)
	}
}
