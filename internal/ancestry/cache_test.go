package ancestry

import (
	"context"
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
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) || !ch.Complete || ch.Depth != 4 {
		t.Fatalf("chain %s complete=%v", ch.JSON, ch.Complete)
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
	if s := c.Stats(); s.Hits != 4 || s.Misses != 0 || s.Complete != 1 {
		t.Fatalf("stats %+v", s)
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
	if ch := c.Ancestry(Key{400, 12345}); string(ch.JSON) != "[]" {
		t.Fatalf("wrong start time accepted: %s", ch.JSON)
	}
}

func TestPidReuseNeverInheritsChain(t *testing.T) {
	f := treeFixture(t)
	c, clk := newFixtureCache(f, 100, time.Minute, 32)
	clk.t = time.Unix(fakeBoot+4, 0)
	c.Scan(context.Background())
	// make (300) exits 4 s after boot; its pid is recycled a second later
	// by an unrelated daemon whose parent is init.
	c.Exit(300, 90)
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
	if ch := c2.Ancestry(Key{400, 95}); string(ch.JSON) != "[]" || ch.Complete {
		t.Fatalf("recycled parent accepted: %s", ch.JSON)
	}
}

func TestParentExitedStillNamed(t *testing.T) {
	f := treeFixture(t)
	c, clk := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// make exits; cc is reparented to init.
	c.Exit(300, 90)
	f.remove(300)
	f.add(400, 1, 95, "/usr/bin/cc", "cc", "-c", "x.c")
	p, ok := c.Live(400)
	if !ok || p.PPID != 300 {
		t.Fatalf("cached parent lost after reparenting: %+v", p)
	}
	es := decode(t, c.Ancestry(p.Key).JSON)
	if !slices.Equal(pids(es), []int64{300, 200, 100, 1}) {
		t.Fatalf("chain %+v", es)
	}
	// After the TTL the exited node expires.
	clk.add(61 * time.Second)
	if s := c.Stats(); s.Expirations != 1 || s.ExitedNodes != 0 {
		t.Fatalf("expiry stats %+v", s)
	}
	if es := decode(t, c.Ancestry(p.Key).JSON); len(es) != 0 {
		t.Fatalf("expired parent still in chain: %+v", es)
	}
}

func TestEventsBuildChainsOfExitedProcesses(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 32)
	c.Scan(context.Background())
	// bash (200) forks 700, which execs sh, forks 701 which execs twice;
	// all exit before anyone asks, and none of them is in /proc.
	c.Fork(200, 700, 200)
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/bin/dash", Cmdline: "sh -c x"})
	k := c.Fork(700, 701, 201)
	c.Exec(ExecEvent{PID: 701, PPID: 700, Path: "/usr/bin/env", Cmdline: "env true"})
	k2 := c.Exec(ExecEvent{PID: 701, PPID: 700, Path: "/usr/bin/true", Cmdline: "true"})
	if k2 != k {
		t.Fatalf("exec changed identity: %v -> %v", k, k2)
	}
	c.Fork(701, 702, 202)
	c.Exit(702, 0)
	c.Exit(701, 0)
	c.Exit(700, 0)
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
	// A process that exits before its exec event is processed, seen by no
	// fork event, gets a node from the event alone.
	k3 := c.Exec(ExecEvent{PID: 800, PPID: 200, Path: "/usr/bin/id", Cmdline: "id -u", Time: time.Unix(fakeBoot+3, 0)})
	if k3.Start != 300 {
		t.Fatalf("start from event time: %v", k3)
	}
	if es := decode(t, c.Ancestry(k3).JSON); !slices.Equal(pids(es), []int64{200, 100, 1}) {
		t.Fatalf("chain of exited exec %+v", es)
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
	c.Fork(200, 700, 200)
	c.Exec(ExecEvent{PID: 700, PPID: 200, Path: "/usr/bin/dash", Cmdline: "sh -c (sleep 1; true) & exit 0"})
	f.remove(700) // sh exited
	pending := []func(){
		func() { c.Fork(700, 701, 201) },
		func() { c.Exit(700, 0) },
		func() { c.Fork(701, 702, 202) },
	}
	calls := 0
	c.SetCatchUp(func() {
		calls++
		for _, ev := range pending {
			ev()
		}
		pending = nil
	})
	k := c.Exec(ExecEvent{PID: 702, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: time.Unix(fakeBoot+2, 0)})
	es := decode(t, c.Ancestry(k).JSON)
	if !slices.Equal(pids(es), []int64{701, 700, 200, 100, 1}) || calls != 1 || c.Stats().CatchUps != 1 {
		t.Fatalf("chain %+v after %d catch-ups", es, calls)
	}
	if k.Start != 202 {
		t.Fatalf("identity %v: the fork event's start time was not used", k)
	}
	// Known process and parent: no catch-up.
	c.Fork(701, 703, 203)
	c.Exec(ExecEvent{PID: 703, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: time.Unix(fakeBoot+3, 0)})
	if calls != 1 {
		t.Fatalf("catch-up ran for a known process: %d calls", calls)
	}
	c.SetCatchUp(nil)
	c.Exec(ExecEvent{PID: 704, PPID: 701, Path: "/usr/bin/true", Cmdline: "true", Time: time.Unix(fakeBoot+4, 0)})
	if calls != 1 {
		t.Fatalf("catch-up ran after removal: %d calls", calls)
	}
}

func TestDepthLimitAndCycles(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 100, time.Minute, 2)
	c.Scan(context.Background())
	ch := c.Ancestry(Key{400, 95})
	if ch.Depth != 2 || !ch.Truncated || ch.Complete {
		t.Fatalf("depth 2: %+v %s", ch, ch.JSON)
	}
	// Unlimited depth on a parent loop (corrupt input) still ends.
	c.Configure(100, time.Minute, 0)
	c.mu.Lock()
	a := c.insertLocked(&node{key: Key{900, 10}, ppid: 901, parent: Key{901, 10}})
	c.insertLocked(&node{key: Key{901, 10}, ppid: 900, parent: Key{900, 10}})
	_ = a
	c.mu.Unlock()
	if ch := c.Ancestry(Key{900, 10}); ch.Depth != 1 || ch.Complete {
		t.Fatalf("cycle: %+v %s", ch, ch.JSON)
	}
}

func TestLRUEviction(t *testing.T) {
	f := treeFixture(t)
	c, _ := newFixtureCache(f, 3, time.Minute, 32)
	c.Scan(context.Background())
	if s := c.Stats(); s.Size != 3 || s.Evictions != 2 {
		t.Fatalf("after scan of 5 into 3: %+v", s)
	}
	// Shrinking evicts at once; zero turns ancestry off.
	c.Configure(1, time.Minute, 32)
	if s := c.Stats(); s.Size != 1 || s.Evictions != 4 {
		t.Fatalf("after shrink: %+v", s)
	}
	c.Configure(0, time.Minute, 32)
	if ch := c.Ancestry(Key{400, 95}); string(ch.JSON) != "[]" {
		t.Fatalf("disabled cache built %s", ch.JSON)
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
