package ancestry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A tree: init(1) -> sshd(100) -> bash(200) -> make(300) -> cc(400).
func treeFixture(t *testing.T) *fakeProc {
	f := newFakeProc(t)
	f.add(1, 0, 1, "/sbin/init", "/sbin/init")
	f.add(100, 1, 50, "/usr/sbin/sshd", "sshd: user [priv]")
	f.add(200, 100, 70, "/usr/bin/bash", "-bash")
	f.add(300, 200, 90, "/usr/bin/make", "make", "-j2")
	f.add(400, 300, 95, "/usr/bin/cc", "cc", "-c", "x.c")
	return f
}

func TestChainFromScan(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	if err := c.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch := c.Ancestry(Key{400, 95})
	es := decode(t, ch.JSON)
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) || !ch.Complete || ch.Depth != 4 || ch.Stop != StopRoot {
		t.Fatalf("chain %s complete=%v stop=%v", ch.JSON, ch.Complete, ch.Stop)
	}
	make := es[0]
	want := element{ExeName: "make", PID: 300, PPID: 200, PProcTimeHR: fakeBoot*100 + 70, Path: "/usr/bin/make",
		Cmdline: "make -j2", ProcTime: fakeBoot, ProcTimeHR: fakeBoot*100 + 90}
	if make != want {
		t.Fatalf("element\n got %+v\nwant %+v", make, want)
	}
	// Keys appear in the contract's order.
	if !strings.HasPrefix(string(ch.JSON), `[{"exe_name":"make","pid":300,"ppid":200,"pproc_time_hr":170000000070,"path":"/usr/bin/make","cmdline":"make -j2","proc_time":1700000000,"proc_time_hr":170000000090}`) {
		t.Fatalf("key order: %s", ch.JSON)
	}
	if init := es[3]; init.PPID != 0 || init.PProcTimeHR != 0 {
		t.Fatalf("init element %+v", init)
	}
	// Everything came from the cache: four hits, no misses.
	if s := c.Stats(); s.Hits != 4 || s.Misses != 0 || s.Complete() != 1 || s.Advice() != "no fork and exit events: chains of short-lived or reparented processes stop early" {
		t.Fatalf("stats %+v advice %q", s, s.Advice())
	}
}

func TestMissReadsProcAndChecksStart(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	// Nothing scanned: every ancestor is a miss read from /proc.
	ch := c.Ancestry(Key{400, 95})
	if !slices.Equal(pids(decode(t, ch.JSON)), []int64{300, 200, 100, 1}) {
		t.Fatalf("chain %s", ch.JSON)
	}
	if s := c.Stats(); s.Misses != 4 || s.ProcReads != 5 {
		t.Fatalf("stats %+v", s)
	}
	// A second lookup is all hits.
	c.Ancestry(Key{400, 95})
	if s := c.Stats(); s.Hits != 4 || s.Misses != 4 {
		t.Fatalf("stats after second lookup %+v", s)
	}
	// A key whose start does not match the live process gets nothing.
	if ch := c.Ancestry(Key{400, 12345}); string(ch.JSON) != "[]" || ch.Stop != StopNotFound {
		t.Fatalf("wrong start time accepted: %s", ch.JSON)
	}
}

func TestPidReuseNeverInheritsChain(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// make (300) exits at tick 400; its pid is recycled at tick 500 by an
	// unrelated daemon whose parent is init.
	c.Exit(300, 400)
	f.remove(300)
	f.add(300, 1, 500, "/usr/sbin/cron", "/usr/sbin/cron", "-f")
	f.add(600, 300, 510, "/bin/sh", "sh", "-c", "backup")
	// The new process's child chains through the new 300 (cron -> init).
	es := decode(t, c.Ancestry(Key{600, 510}).JSON)
	if !slices.Equal(pids(es), []int64{300, 1}) || es[0].Path != "/usr/sbin/cron" || es[0].ProcTimeHR != fakeBoot*100+500 {
		t.Fatalf("recycled pid chain %+v", es)
	}
	// The old child (cc, 400) still chains through the old make, from the
	// cache.
	es = decode(t, c.Ancestry(Key{400, 95}).JSON)
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) || es[0].Path != "/usr/bin/make" {
		t.Fatalf("old chain %+v", es)
	}
	// Once the old make is gone from the cache, /proc offers only the new
	// 300, which started after cc: the chain stops rather than lie.
	c2, _ := newFixtureCache(f, 100, time.Minute, 32)
	c2.mu.Lock()
	c2.insertLocked(&node{key: Key{400, 95}, ppid: 300, exe: "cc", path: "/usr/bin/cc"})
	c2.mu.Unlock()
	if ch := c2.Ancestry(Key{400, 95}); string(ch.JSON) != "[]" || ch.Complete || ch.Stop != StopParentGone {
		t.Fatalf("recycled parent accepted: %s %v", ch.JSON, ch.Stop)
	}
	if s := c2.Stats(); s.ProcMismatches != 1 {
		t.Fatalf("mismatch not counted: %+v", s)
	}
}

// The case: a recycled pid whose new parent has the same pid as
// an earlier, exited parent. Every event is matched by time, so the new
// child never takes the old one's node, chain or image.
func TestPidReuseWithRecycledParent(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// Round one: bash(200) forks 700 which runs run.sh and forks 800.
	c.Fork(200, 700, tk(1000))
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/usr/bin/bash", Cmdline: "bash run.sh", Time: atTicks(1001)})
	c.Fork(700, 800, tk(1010))
	c.Exec(ExecEvent{PID: 800, PPID: 700, Path: "/usr/bin/true", Cmdline: "true one", Time: atTicks(1011)})
	c.Exit(800, 1012)
	c.Exit(700, 1020)
	// Round two, pids recycled: make(300) forks a new 700, which execs
	// sh -c and forks a new 800.
	c.Fork(300, 700, tk(2000))
	r7 := c.Exec(ExecEvent{PID: 700, PPID: 300, Path: "/usr/bin/dash", Cmdline: "sh -c two", Time: atTicks(2001)})
	c.Fork(700, 800, tk(2010))
	r := c.Exec(ExecEvent{PID: 800, PPID: 700, Path: "/usr/bin/true", Cmdline: "true two", Time: atTicks(2011)})
	if r7.Key != (Key{700, 2000}) || r.Key != (Key{800, 2010}) {
		t.Fatalf("identities %v %v", r7.Key, r.Key)
	}
	es := decode(t, r.Chain.JSON)
	if !slices.Equal(pids(es), []int64{700, 300, 200, 100, 1}) || es[0].Cmdline != "sh -c two" || es[0].ProcTimeHR != fakeBoot*100+2000 {
		t.Fatalf("round two chain %+v", es)
	}
	// The exec of the new 800 arrives before its fork was applied: the
	// old 800 (exited at 1012) is not taken for it, and the catch-up
	// applies the pending fork first.
	pending := func() { c.Fork(700, 801, tk(2020)) }
	c.SetCatchUp(func(time.Time) bool {
		if pending != nil {
			pending()
			pending = nil
		}
		return true
	})
	r = c.Exec(ExecEvent{PID: 801, PPID: 700, Path: "/usr/bin/id", Cmdline: "id", Time: atTicks(2021)})
	if r.Key != (Key{801, 2020}) || !slices.Equal(pids(decode(t, r.Chain.JSON)), []int64{700, 300, 200, 100, 1}) {
		t.Fatalf("exec before its fork: %v %s", r.Key, r.Chain.JSON)
	}
	// A fork of a pid whose old owner never reported its exit (a lost
	// event) ends the old one, and the new one does not inherit it.
	c.Fork(200, 900, tk(3000))
	c.Fork(300, 900, tk(3100))
	if s := c.Stats(); s.ImpliedExits != 1 {
		t.Fatalf("implied exit not counted: %+v", s)
	}
	es = decode(t, c.Ancestry(Key{900, 3100}).JSON)
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) {
		t.Fatalf("chain of the new 900 %+v", es)
	}
}

// An exec is never given a start time made up from its timestamp: with no
// fork event and the process gone from /proc, the process has no identity,
// and its chain (from the parent the event names) is marked incomplete.
func TestStartNeverFromEventTime(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	r := c.Exec(ExecEvent{PID: 800, PPID: 200, Path: "/usr/bin/id", Cmdline: "id -u", Time: atTicks(3000)})
	if r.Key.Start != 0 || r.Chain.Complete || r.Chain.Stop != StopUnknownProcess {
		t.Fatalf("unknown process: %+v", r)
	}
	if es := decode(t, r.Chain.JSON); !slices.Equal(pids(es), []int64{200, 100, 1}) {
		t.Fatalf("chain from the event's parent %+v", es)
	}
	if s := c.Stats(); s.StartUnknown != 1 || s.Size != 5 {
		t.Fatalf("stats %+v", s)
	}
	// A live process that started after the exec is a later owner of the
	// pid, not the one that exec'd.
	f.add(801, 200, 4000, "/usr/bin/sleep", "sleep", "9")
	r = c.Exec(ExecEvent{PID: 801, PPID: 200, Path: "/usr/bin/id", Cmdline: "id", Time: atTicks(3500)})
	if r.Key.Start != 0 || r.Chain.Stop != StopUnknownProcess {
		t.Fatalf("later owner taken: %+v", r)
	}
	// One that started before it is the process, with /proc's start time.
	f.add(802, 200, 3400, "/usr/bin/sleep", "sleep", "9")
	r = c.Exec(ExecEvent{PID: 802, PPID: 200, Path: "/usr/bin/id", Cmdline: "id", Time: atTicks(3500)})
	if r.Key != (Key{802, 3400}) || !r.Chain.Complete {
		t.Fatalf("live process: %+v", r)
	}
}

// A parent that exits stays in its children's chains; a child reparented
// to init (a double fork) still names the process that forked it, and the
// exec says that the parent changed.
func TestDoubleForkKeepsLauncher(t *testing.T) {
	f := treeFixture(t)
	c, clk := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// bash(200) forks the launcher 700, which forks 701 (setsid), which
	// forks 702 and exits; 702 is reparented to init and execs.
	c.Fork(200, 700, tk(1000))
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/opt/x/launcher", Cmdline: "launcher --daemon", Time: atTicks(1001)})
	c.Fork(700, 701, tk(1010))
	c.Fork(701, 702, tk(1020))
	c.Exit(701, 1021)
	f.add(702, 1, 1020, "/opt/x/launcher", "launcher", "--daemon")
	r := c.Exec(ExecEvent{PID: 702, PPID: 1, Path: "/opt/x/implant", Cmdline: "implant", Time: atTicks(1030)})
	es := decode(t, r.Chain.JSON)
	if !slices.Equal(pids(es), []int64{701, 700, 200, 100, 1}) || !r.Chain.Complete || r.OriginalParent != 701 {
		t.Fatalf("double fork: %+v %+v", r, es)
	}
	if es[0].PPID != 700 || es[0].PProcTimeHR != es[1].ProcTimeHR || es[0].Cmdline != "launcher --daemon" {
		t.Fatalf("the exited middle process %+v", es[0])
	}
	if s := c.Stats(); s.Reparented != 1 {
		t.Fatalf("reparenting not counted: %+v", s)
	}
	// The launcher exits too; after the TTL both stay, because the live
	// daemon needs them.
	c.Exit(700, 1100)
	clk.add(2 * time.Minute)
	c.Stats() // expires what is due
	es = decode(t, c.Ancestry(Key{702, 1020}).JSON)
	if !slices.Equal(pids(es), []int64{701, 700, 200, 100, 1}) {
		t.Fatalf("after the TTL, the daemon's chain %+v", es)
	}
	// Once the daemon exits too, the TTL takes them all.
	c.Exit(702, 2000)
	f.remove(702)
	clk.add(2 * time.Minute)
	if s := c.Stats(); s.Size != 5 || s.Expirations != 3 {
		t.Fatalf("after the daemon exited: %+v", s)
	}
}

func TestParentExitedStillNamed(t *testing.T) {
	f := treeFixture(t)
	c, clk := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// make exits; cc is reparented to init.
	c.Exit(300, 1000)
	f.remove(300)
	f.add(400, 1, 95, "/usr/bin/cc", "cc", "-c", "x.c")
	p, ok := c.Live(400)
	if !ok || p.OriginalPPID != 300 || p.PPID != 1 {
		t.Fatalf("cached parent lost after reparenting: %+v", p)
	}
	es := decode(t, c.Ancestry(p.Key).JSON)
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) {
		t.Fatalf("chain %+v", es)
	}
	// After the TTL the exited make stays while cc lives.
	clk.add(61 * time.Second)
	if s := c.Stats(); s.Expirations != 0 || s.ExitedNodes != 1 || s.PinnedNodes < 4 {
		t.Fatalf("pinned parent expired: %+v", s)
	}
	c.Exit(400, 7000)
	f.remove(400)
	if s := c.Stats(); s.Expirations != 0 || s.ExitedNodes != 2 {
		t.Fatalf("after cc exited: %+v", s)
	}
	clk.add(61 * time.Second)
	if s := c.Stats(); s.Expirations != 2 || s.ExitedNodes != 0 {
		t.Fatalf("after cc's TTL: %+v", s)
	}
}

func TestEventsBuildChainsOfExitedProcesses(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// bash (200) forks 700, which execs sh, forks 701 which execs twice;
	// all exit before anyone asks, and none of them is in /proc.
	c.Fork(200, 700, tk(200))
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/bin/dash", Cmdline: "sh -c x", Time: atTicks(200)})
	k := c.Fork(700, 701, tk(201))
	c.Exec(ExecEvent{PID: 701, PPID: 700, Path: "/usr/bin/env", Cmdline: "env true", Time: atTicks(201)})
	r := c.Exec(ExecEvent{PID: 701, PPID: 700, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(202)})
	if r.Key != k {
		t.Fatalf("exec changed identity: %v -> %v", k, r.Key)
	}
	c.Fork(701, 702, tk(202))
	c.Exit(702, 203)
	c.Exit(701, 203)
	c.Exit(700, 204)
	es := decode(t, c.Ancestry(Key{702, 202}).JSON)
	if !slices.Equal(pids(es), []int64{701, 700, 200, 100, 1}) {
		t.Fatalf("chain %+v", es)
	}
	if es[0].Path != "/usr/bin/true" || es[0].Cmdline != "true" || es[0].ExeName != "true" {
		t.Fatalf("exec twice: chain shows %+v, not the current image", es[0])
	}
	if es[1].Path != "/bin/dash" || es[1].PProcTimeHR != fakeBoot*100+70 {
		t.Fatalf("fork-then-exec element %+v", es[1])
	}
	// The exec of a process whose fork and exit were applied before the
	// exec record arrived (audit is slower than the proc connector) finds
	// the exited node by time.
	c.Fork(200, 703, tk(300))
	c.Exit(703, 302)
	r = c.Exec(ExecEvent{PID: 703, PPID: 200, Path: "/usr/bin/id", Cmdline: "id -u", Time: atTicks(301)})
	if r.Key != (Key{703, 300}) || !slices.Equal(pids(decode(t, r.Chain.JSON)), []int64{200, 100, 1}) {
		t.Fatalf("exec of an exited process: %+v", r)
	}
	// An exec after the process's recorded exit is not its.
	r = c.Exec(ExecEvent{PID: 703, PPID: 200, Path: "/usr/bin/id", Cmdline: "id -u", Time: atTicks(400)})
	if r.Key.Start != 0 {
		t.Fatalf("exec after exit took the exited node: %+v", r)
	}
}

// The exec of a subshell's child arrives (from audit) before the forks
// that made the subshell (from the proc connector) were applied, and the
// subshell's parent has exited, so /proc shows it reparented to init. The
// catch-up applies the pending forks first, and the chain names the real
// parent; without it the chain would be [subshell, init].
func TestCatchUpAppliesPendingForksBeforeProc(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	f.add(701, 1, 201, "/usr/bin/dash", "sh", "-c", "(sleep 1; true) & exit 0") // the subshell, reparented
	c.Fork(200, 700, tk(200))
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/usr/bin/dash", Cmdline: "sh -c (sleep 1; true) & exit 0", Time: atTicks(200)})
	f.remove(700) // sh exited
	pending := []func(){
		func() { c.Fork(700, 701, tk(201)) },
		func() { c.Exit(700, 201) },
		func() { c.Fork(701, 702, tk(202)) },
	}
	received := atTicks(250)
	var calls []time.Time
	c.SetCatchUp(func(at time.Time) bool {
		calls = append(calls, at)
		for _, ev := range pending {
			ev()
		}
		pending = nil
		return true
	})
	r := c.Exec(ExecEvent{PID: 702, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(203), Received: received})
	es := decode(t, r.Chain.JSON)
	if !slices.Equal(pids(es), []int64{701, 700, 200, 100, 1}) || len(calls) != 1 || !calls[0].Equal(received) {
		t.Fatalf("chain %+v after catch-ups at %v", es, calls)
	}
	if r.Key.Start != 202 {
		t.Fatalf("identity %v: the fork event's start time was not used", r.Key)
	}
	// A catch-up that fails is counted, and the exec goes on.
	c.SetCatchUp(func(time.Time) bool { return false })
	c.Fork(701, 703, tk(203))
	c.Exec(ExecEvent{PID: 703, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(204)})
	if s := c.Stats(); s.CatchUpFailures != 1 {
		t.Fatalf("failed catch-up not counted: %+v", s)
	}
	c.SetCatchUp(nil)
	c.Exec(ExecEvent{PID: 704, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(205)})
	if len(calls) != 1 {
		t.Fatalf("catch-up ran after removal: %d calls", len(calls))
	}
}

// Two incarnations of a pid within the event clock's slack of an exec:
// the cache says it cannot tell, and picks neither.
func TestAmbiguousPidRecycle(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	c.Fork(200, 700, tk(1000))
	c.Exit(700, 1001)
	c.Fork(300, 700, tk(1002))
	r := c.Exec(ExecEvent{PID: 700, PPID: 300, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(1001)})
	if r.Key.Start != 0 || r.Chain.Stop != StopAmbiguous || r.Chain.Complete {
		t.Fatalf("ambiguous exec: %+v", r)
	}
	if s := c.Stats(); s.Ambiguous != 1 || s.Stops[StopAmbiguous] != 1 {
		t.Fatalf("not counted: %+v", s)
	}
	// The same, but the new owner still runs and /proc shows it running
	// the exec's arguments: it is the one.
	c.Fork(200, 701, tk(1000))
	c.Exit(701, 1001)
	c.Fork(300, 701, tk(1002))
	f.add(701, 300, 1002, "/usr/bin/true", "true", "x")
	r = c.Exec(ExecEvent{PID: 701, PPID: 300, Path: "/usr/bin/true", Cmdline: "true x", Time: atTicks(1001)})
	if r.Key != (Key{701, 1002}) || !r.Chain.Complete {
		t.Fatalf("resolved by /proc: %+v", r)
	}
}

func TestDepthLimitAndCycles(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 2)
	c.Scan(context.Background())
	ch := c.Ancestry(Key{400, 95})
	if ch.Depth != 2 || !ch.Truncated || ch.Complete || ch.Stop != StopDepth {
		t.Fatalf("depth 2: %+v %s", ch, ch.JSON)
	}
	if s := c.Stats(); !strings.Contains(s.Advice(), "process_ancestry_max_depth (2)") {
		t.Fatalf("advice %q", s.Advice())
	}
	// Unlimited depth on a parent loop (corrupt input) still ends.
	c.Configure(100, time.Minute, 0)
	c.mu.Lock()
	a := c.insertLocked(&node{key: Key{900, 10}, ppid: 901, parentKey: Key{901, 10}})
	b := c.insertLocked(&node{key: Key{901, 10}, ppid: 900, parentKey: Key{900, 10}})
	c.link(a, b)
	c.link(b, a)
	c.mu.Unlock()
	if ch := c.Ancestry(Key{900, 10}); ch.Depth != 1 || ch.Complete || ch.Stop != StopLoop {
		t.Fatalf("cycle: %+v %s", ch, ch.JSON)
	}
}

// A zombie read from /proc keeps its identity but has no path or
// arguments: the element says so with empty strings, counted, and never
// replaces what an exec event gave.
func TestZombieFieldsUnknown(t *testing.T) {
	f := treeFixture(t)
	f.addZombie(500, 200, 96, "worker")
	f.add(501, 1, 97, "/usr/bin/sleep", "sleep", "60")
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	// 501's /proc parent is init (reparented when the zombie exited); a
	// node from an event knows the zombie as its parent.
	c.mu.Lock()
	c.insertLocked(&node{key: Key{501, 97}, ppid: 1, parentKey: Key{500, 96}, exe: "sleep", path: "/usr/bin/sleep", cmdline: "sleep 60", pathKnown: true, cmdlineKnown: true})
	c.mu.Unlock()
	ch := c.Ancestry(Key{501, 97})
	es := decode(t, ch.JSON)
	if !slices.Equal(pids(es), []int64{500, 200, 100, 1}) || es[0].Path != "" || es[0].Cmdline != "" || es[0].ExeName != "worker" || ch.Unreadable != 1 {
		t.Fatalf("zombie element %+v unreadable=%d", es, ch.Unreadable)
	}
	if s := c.Stats(); s.Unreadable != 1 {
		t.Fatalf("unreadable not counted: %+v", s)
	}
	// pid 1 whose exe link root may not read: the path is unknown, the
	// arguments are not.
	g := newFakeProc(t)
	g.addState(1, 0, 1, 'S', "", "/process_api", "--init")
	g.add(10, 1, 5, "/usr/bin/bash", "bash")
	c2, _ := newFixtureCache(g, 10, time.Minute, 32)
	ch = c2.Ancestry(Key{10, 5})
	es = decode(t, ch.JSON)
	if len(es) != 1 || es[0].Path != "" || es[0].Cmdline != "/process_api --init" || ch.Unreadable != 1 || !ch.Complete {
		t.Fatalf("unreadable pid 1: %+v %+v", es, ch)
	}
}

// Eviction takes leaves only, so a cached process always has its chain;
// an evicted live ancestor comes back from /proc, and a too-small cache
// says so.
func TestEvictionKeepsAncestors(t *testing.T) {
	f := newFakeProc(t)
	f.add(1, 0, 1, "/sbin/init", "init")
	// A tree of 100 live holders 4 levels deep under init, forked and
	// exec'd while a cache of 10 watches; the leaves then exec.
	c, clk := newFixtureCache(f, 10, time.Minute, 32)
	c.Scan(context.Background())
	pid, tick := 1000, uint64(100)
	var leaves [][2]int32
	var grow func(parent, level int)
	grow = func(parent, level int) {
		for i := 0; i < 3; i++ {
			pid++
			tick++
			me := pid
			cmd := fmt.Sprintf("holder %d", me)
			f.add(me, parent, tick, "/usr/bin/holder", "holder", fmt.Sprint(me))
			c.Fork(int32(parent), int32(me), tk(tick))
			c.Exec(ExecEvent{PID: int32(me), PPID: int32(parent), Path: "/usr/bin/holder", Cmdline: cmd, Time: atTicks(tick)})
			if level < 3 {
				grow(me, level+1)
			} else {
				leaves = append(leaves, [2]int32{int32(me), int32(parent)})
			}
		}
	}
	grow(1, 0)
	// Within the grace of their events nothing is evicted: the target is
	// exceeded, and that is counted.
	if s := c.Stats(); s.Evictions != 0 || s.Size != 121 || s.OverTarget == 0 {
		t.Fatalf("young nodes: %+v", s)
	}
	clk.add(3 * time.Second)
	for _, leaf := range leaves {
		tick++
		r := c.Exec(ExecEvent{PID: leaf[0], PPID: leaf[1], Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(tick)})
		es := decode(t, r.Chain.JSON)
		if !r.Chain.Complete || len(es) != 4 || es[len(es)-1].PID != 1 {
			t.Fatalf("leaf %v: %+v", leaf, es)
		}
		for i := 0; i+1 < len(es); i++ {
			if es[i].PPID != es[i+1].PID || es[i].Cmdline != fmt.Sprintf("holder %d", es[i].PID) {
				t.Fatalf("leaf %v element %d: %+v", leaf, i, es)
			}
		}
	}
	// Live ancestors that were evicted came back from /proc (misses);
	// nothing was cut.
	s := c.Stats()
	if s.Evictions == 0 || s.Misses == 0 || s.Stops[StopEvicted] != 0 || s.Stops[StopRoot] != s.Chains {
		t.Fatalf("stats %+v", s)
	}
	if !strings.Contains(s.Advice(), "cache too small") {
		t.Fatalf("advice %q", s.Advice())
	}
}

// An evicted parent that has exited cannot come back from /proc: the
// chain says it was cut by eviction, and a live one comes back and is
// counted as recovered.
func TestEvictionCutIsCounted(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.mu.Lock()
	leaf := c.insertLocked(&node{key: Key{800, 900}, ppid: 700, parentKey: Key{700, 850}, exe: "true", pathKnown: true, cmdlineKnown: true})
	c.insertLocked(&node{key: Key{801, 900}, ppid: 400, parentKey: Key{400, 95}, exe: "true", pathKnown: true, cmdlineKnown: true})
	c.evicted.add(Key{700, 850})
	c.evicted.add(Key{400, 95})
	c.mu.Unlock()
	ch := c.Ancestry(leaf.key)
	if ch.Stop != StopEvicted || ch.Complete {
		t.Fatalf("evicted exited parent: %+v", ch)
	}
	ch = c.Ancestry(Key{801, 900})
	if !ch.Complete || ch.Depth != 5 {
		t.Fatalf("evicted live parent: %+v %s", ch, ch.JSON)
	}
	if s := c.Stats(); s.Stops[StopEvicted] != 1 || s.EvictedRecovered != 1 || !strings.Contains(s.Advice(), "cache too small") {
		t.Fatalf("stats %+v", s)
	}
}

func TestShrinkAndDisable(t *testing.T) {
	f := treeFixture(t)
	f.add(401, 300, 96, "/usr/bin/cc", "cc", "-c", "y.c")
	f.add(500, 200, 97, "/usr/bin/vim", "vim")
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// make exits: its children are orphans only the cache can name, so
	// they and their ancestors are pinned; vim (a live leaf whose parent
	// lives) is not, /proc can give it back.
	c.Exit(300, 1000)
	c.Configure(1, time.Minute, 32)
	if s := c.Stats(); s.Size != 6 || s.Evictions != 1 || s.PinnedNodes != 6 || s.OverTarget == 0 {
		t.Fatalf("after shrink: %+v", s)
	}
	if ch := c.Ancestry(Key{401, 96}); !ch.Complete || ch.Depth != 4 {
		t.Fatalf("orphan after shrink: %s", ch.JSON)
	}
	c.Configure(0, time.Minute, 32)
	if ch := c.Ancestry(Key{400, 95}); string(ch.JSON) != "[]" || ch.Stop != StopDisabled {
		t.Fatalf("disabled cache built %s", ch.JSON)
	}
	if s := c.Stats(); s.Size != 0 || s.Advice() != "ancestry is off (process_ancestry_cache_size=0)" {
		t.Fatalf("disabled: %+v", s)
	}
}

func TestHostileCmdlinesStayValidJSON(t *testing.T) {
	f := newFakeProc(t)
	huge := strings.Repeat("A", 100<<10)
	f.add(1, 0, 1, "/sbin/init", "/sbin/init")
	f.add(10, 1, 5, "/bin/we\"ird\\path", "sh", `-c`, "echo \"hi\" \\ \n\t\x01", "\xff\xfe\xfd", huge)
	f.add(11, 10, 6, "/bin/true", "true")
	c, _ := newFixtureCache(f, 10, time.Minute, 32)
	es := decode(t, c.Ancestry(Key{11, 6}).JSON)
	if len(es) != 2 {
		t.Fatalf("chain %+v", es)
	}
	if es[0].Path != "/bin/we\"ird\\path" || !strings.HasPrefix(es[0].Cmdline, "sh -c echo \"hi\" \\ \n\t\x01 \ufffd\ufffd\ufffd AAAA") ||
		len(es[0].Cmdline) != len("sh -c echo \"hi\" \\ \n\t\x01 ")+9+1+len(huge) {
		t.Fatalf("element %q / %d bytes", es[0].Path, len(es[0].Cmdline))
	}
}

// A fork stamped just after a tick boundary may have started in the tick
// before: /proc is asked, and its start wins if it is that process; a
// child already gone keeps the event's tick, counted as estimated.
func TestForkNearTickBoundaryAsksProc(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	f.add(700, 200, 999, "/usr/bin/bash", "-bash")
	justAfter := 1000*10*time.Millisecond + 300*time.Microsecond
	if k := c.Fork(200, 700, justAfter); k != (Key{700, 999}) {
		t.Fatalf("start from /proc not taken: %v", k)
	}
	// /proc's 701 started later than the fork: a recycled pid, not taken.
	f.add(701, 1, 1500, "/usr/sbin/cron", "cron")
	if k := c.Fork(200, 701, justAfter); k != (Key{701, 1000}) {
		t.Fatalf("later owner's start taken: %v", k)
	}
	if k := c.Fork(200, 702, justAfter); k != (Key{702, 1000}) {
		t.Fatalf("gone child: %v", k)
	}
	if s := c.Stats(); s.StartEstimated != 2 || s.ProcReads != 8 {
		t.Fatalf("stats %+v", s)
	}
	// Mid-tick, /proc is not read.
	c.Fork(200, 703, tk(1001))
	if s := c.Stats(); s.StartEstimated != 2 || s.ProcReads != 8 {
		t.Fatalf("mid-tick fork read /proc: %+v", s)
	}
}

// When the fork source falls behind, an exec can be handled before the
// fork that made its process: the exec's chain is marked incomplete, and
// the late fork's node takes the exec's image, not its parent's, so its
// children's chains name what it ran.
func TestLateForkTakesTheExecsImage(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	r := c.Exec(ExecEvent{PID: 750, PPID: 200, Path: "/usr/bin/python3", Cmdline: "python3 job.py", Time: atTicks(2001)})
	if r.Key.Start != 0 || r.Chain.Stop != StopUnknownProcess {
		t.Fatalf("exec before fork: %+v", r)
	}
	c.Fork(200, 750, tk(2000))
	c.Fork(750, 751, tk(2002))
	r = c.Exec(ExecEvent{PID: 751, PPID: 750, Path: "/usr/bin/curl", Cmdline: "curl x", Time: atTicks(2003)})
	es := decode(t, r.Chain.JSON)
	if !r.Chain.Complete || len(es) < 2 || es[0].PID != 750 || es[0].Cmdline != "python3 job.py" || es[0].Path != "/usr/bin/python3" {
		t.Fatalf("child of the late fork: %+v", es)
	}
	if s := c.Stats(); s.LateForks != 1 {
		t.Fatalf("late fork not counted: %+v", s)
	}
	// A pending exec older than the fork is not applied to it.
	c.Exec(ExecEvent{PID: 752, PPID: 200, Path: "/usr/bin/a", Cmdline: "a", Time: atTicks(2010)})
	c.Fork(200, 752, tk(2100))
	if es := decode(t, c.Ancestry(Key{752, 2100}).JSON); len(es) == 0 {
		t.Fatal("no chain")
	}
	c.mu.Lock()
	n := c.lookupLocked(Key{752, 2100})
	c.mu.Unlock()
	if n == nil || n.cmdline != "-bash" {
		t.Fatalf("an exec from before the fork was applied: %+v", n)
	}
}

// With the catch-up failed, a live node of the pid may be an old owner
// whose exit is still pending: /proc decides which process exec'd.
func TestCatchUpFailureChecksLiveCandidate(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	c.Fork(200, 760, tk(1000)) // its exit and the new owner's fork are pending
	c.SetCatchUp(func(time.Time) bool { return false })
	f.add(760, 300, 2900, "/usr/bin/true", "true")
	r := c.Exec(ExecEvent{PID: 760, PPID: 300, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(3000)})
	if r.Key != (Key{760, 2900}) || !slices.Equal(pids(decode(t, r.Chain.JSON)), []int64{300, 200, 100, 1}) {
		t.Fatalf("stale candidate taken: %+v", r)
	}
	if s := c.Stats(); s.CatchUpFailures != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The old owner's exit arrives late, stamped just before the new one
	// started: it ends the old node, not the new one.
	c.Exit(760, 2899)
	c.mu.Lock()
	oldNode, newNode := c.lookupLocked(Key{760, 1000}), c.lookupLocked(Key{760, 2900})
	c.mu.Unlock()
	if oldNode == nil || !oldNode.exited || newNode == nil || newNode.exited {
		t.Fatalf("late exit ended the wrong incarnation: old %+v new %+v", oldNode, newNode)
	}
	// Gone from /proc: either could have exec'd.
	c.Fork(200, 761, tk(1000))
	r = c.Exec(ExecEvent{PID: 761, PPID: 300, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(3000)})
	if r.Key.Start != 0 || r.Chain.Stop != StopAmbiguous {
		t.Fatalf("gone: %+v", r)
	}
	// Still the same process in /proc: taken.
	f.add(762, 200, 1000, "/usr/bin/bash", "bash")
	c.Fork(200, 762, tk(1000))
	r = c.Exec(ExecEvent{PID: 762, PPID: 200, Path: "/usr/bin/true", Cmdline: "true", Time: atTicks(3000)})
	if r.Key != (Key{762, 1000}) || !r.Chain.Complete {
		t.Fatalf("confirmed candidate: %+v", r)
	}
}

// A fork event's tick can be one late even mid-tick on a loaded machine;
// when the process forks (it runs then), /proc corrects it, in the node and
// in its children's parent keys.
func TestChainCorrectsLateForkTick(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	c.Fork(200, 770, tk(1001)) // really started at tick 1000
	f.add(770, 200, 1000, "/usr/bin/make", "make")
	c.Fork(770, 771, tk(1002)) // 770 forks: checked now, while it runs
	c.Exec(ExecEvent{PID: 770, PPID: 200, Path: "/usr/bin/make", Cmdline: "make", Time: atTicks(1003)})
	r := c.Exec(ExecEvent{PID: 771, PPID: 770, Path: "/usr/bin/cc", Cmdline: "cc", Time: atTicks(1004)})
	es := decode(t, r.Chain.JSON)
	if len(es) == 0 || es[0].PID != 770 || es[0].ProcTimeHR != fakeBoot*100+1000 || es[0].PProcTimeHR != fakeBoot*100+70 {
		t.Fatalf("chain of the child %+v", es)
	}
	// The correction reached the node: a later child's chain, and the
	// first child's own element, name the corrected start.
	c.Fork(770, 772, tk(1005))
	f.add(771, 770, 1002, "/usr/bin/cc", "cc")
	c.Fork(771, 773, tk(1006))
	r = c.Exec(ExecEvent{PID: 773, PPID: 771, Path: "/usr/bin/as", Cmdline: "as", Time: atTicks(1007)})
	es = decode(t, r.Chain.JSON)
	if len(es) < 2 || es[0].PID != 771 || es[0].PProcTimeHR != fakeBoot*100+1000 || es[1].ProcTimeHR != fakeBoot*100+1000 {
		t.Fatalf("chain after the correction %+v", es)
	}
	if s := c.Stats(); s.StartCorrected != 1 {
		t.Fatalf("correction not counted: %+v", s)
	}
}
