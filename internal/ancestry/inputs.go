package ancestry

import (
	"context"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// Slack in ticks when an event's time is compared with start and exit
// ticks. The audit timestamp is the kernel's coarse wall clock at syscall
// entry, cut to milliseconds: a jiffy early normally (10 ms at HZ=100),
// more on a host that starves the vCPU keeping time. Fork and exit events
// carry the kernel's own clock and /proc rounds to ticks: one tick either
// way.
const (
	execSlack = 2
	tickSlack = 1
)

// execWindow is when an exec can have happened: not before its timestamp
// (less the slack), and not after gosquery received its record, a bound
// that is never early.
func (c *Cache) execWindow(e ExecEvent) window {
	at := c.clock.ticksAt(e.Time)
	w := window{at - min(at, execSlack), at + execSlack}
	if !e.Received.IsZero() {
		w.to = max(w.to, c.clock.ticksAt(e.Received)+tickSlack)
	}
	return w
}

// forkLag bounds, in ticks, how much later than a process's real start its
// fork event can be stamped. Microseconds normally; but a vCPU the host
// deschedules between the kernel's two clock reads has been seen to put
// the stamp 20 ms late. /proc showing the pid started up to this much
// before the stamp is the same process: a pid cannot change hands while
// its owner runs, and only a running process's start is checked.
const forkLag = 10

// readProc builds a node for a live process from /proc: stat for the
// identity and parent, the exe link for the path, cmdline for the
// arguments, and stat again, so that fields read while the process exited
// or its pid was recycled are not taken for its own. ok is false when the
// process is gone. A zombie keeps its identity but has no path or
// arguments left to read; they are marked unknown, never guessed.
func (c *Cache) readProc(pid int32) (*node, bool) {
	c.stats.procReads.Add(1)
	st, err := c.proc.Stat(int(pid))
	if err != nil {
		c.stats.procFailures.Add(1)
		return nil, false
	}
	n := &node{key: Key{PID: pid, Start: st.StartTime}, ppid: int32(st.PPID), parentKey: Key{PID: int32(st.PPID)}, exe: st.Comm, startRead: true}
	n.kernelThread = st.Flags&procfs.PFKernelThread != 0
	if n.kernelThread {
		// No executable and no arguments: nothing is unknown.
		n.pathKnown, n.cmdlineKnown = true, true
		return n, true
	}
	if st.State == 'Z' || st.State == 'X' {
		return n, true
	}
	link, errExe := c.proc.Exe(int(pid))
	cmd, errCmd := c.proc.Cmdline(int(pid))
	again, err := c.proc.Stat(int(pid))
	if err != nil || again.StartTime != st.StartTime || again.State == 'Z' || again.State == 'X' {
		// Gone or recycled while being read: the identity stands (it was
		// read first), what was read after may not be its own.
		return n, true
	}
	if errExe == nil {
		n.path, n.pathKnown = strings.TrimSuffix(link, " (deleted)"), true
	}
	if errCmd == nil && len(cmd) > 0 {
		n.cmdline, n.cmdlineKnown = procfs.JoinCmdline(cmd), true
	}
	n.exe = exeName(n.path, st.Comm)
	return n, true
}

// Scan seeds the cache with every running process, so that processes
// started before gosquery have ancestors too.
func (c *Cache) Scan(ctx context.Context) error {
	if !c.Enabled() {
		return nil
	}
	pids, err := c.proc.PIDs()
	if err != nil {
		return err
	}
	nodes := make([]*node, 0, len(pids))
	for _, pid := range pids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if n, ok := c.readProc(int32(pid)); ok {
			nodes = append(nodes, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Every process goes in before any is linked to its parent, whatever
	// order /proc listed them in; linking pins the parents, and eviction
	// then takes leaves only.
	for i, n := range nodes {
		nodes[i] = c.addLocked(n)
	}
	for _, n := range nodes {
		c.linkParentLocked(n)
	}
	c.expireLocked()
	c.evictLocked()
	c.stats.scanned.Add(uint64(len(nodes)))
	return nil
}

// ExecEvent is what an exec event source knows about a successful exec.
type ExecEvent struct {
	PID int32
	// PPID is the parent the event names: the parent at the time of the
	// exec, the reaper if the original parent had exited.
	PPID int32
	// Path is the new executable; Cmdline its arguments joined by spaces.
	Path    string
	Cmdline string
	// Time is the event's timestamp (audit's: the kernel's coarse clock at
	// syscall entry). It tells which incarnation of a recycled pid
	// exec'd; it is never taken for a start time. Zero means now.
	Time time.Time
	// Received is when the event was taken off its socket: the other
	// inputs are caught up to it (SetCatchUp). Zero means now.
	Received time.Time
}

// ExecResult is the outcome of an exec: the process's identity and its
// chain, built under the same lock so nothing is evicted in between.
type ExecResult struct {
	// Key is the process's identity; Start is 0 when it could not be
	// learnt (no fork event, gone from /proc), and then no node is kept.
	Key   Key
	Chain Chain
	// OriginalParent is the pid of the process that forked this one, when
	// known; it differs from the event's PPID after a reparenting.
	OriginalParent int32
}

// CatchUp brings the fork and exit events up to the instant given: every
// one that the kernel reported before then has been applied to the cache
// when it returns true. Exec calls it before it resolves the process, so
// that neither a fork not yet applied (a new process unknown) nor an exit
// not yet applied (a recycled pid's old owner taken for the new) decides
// the chain.
type CatchUp func(received time.Time) bool

// SetCatchUp installs fn (nil removes it). Events come from two sources at
// their own pace: audit reports an exec, the proc connector the forks and
// exits before it.
func (c *Cache) SetCatchUp(fn CatchUp) {
	if fn == nil {
		c.catchUp.Store(nil)
		return
	}
	c.catchUp.Store(&fn)
}

// Exec records that a process replaced its image and returns its identity
// and ancestry chain.
//
// The process is the incarnation of the pid that was alive at the exec's
// time, from the fork event that announced it, else from /proc if that
// process started before the exec; a start time is never made up. Its
// parent is the one that forked it, kept when the event names a reaper.
func (c *Cache) Exec(e ExecEvent) ExecResult {
	c.stats.execs.Add(1)
	if !c.Enabled() {
		return ExecResult{Key: Key{PID: e.PID}, Chain: Chain{JSON: []byte("[]"), Stop: StopDisabled}}
	}
	caughtUp := true
	if fn := c.catchUp.Load(); fn != nil {
		received := e.Received
		if received.IsZero() {
			received = c.clock.now()
		}
		if caughtUp = (*fn)(received); !caughtUp {
			c.stats.catchUpFailures.Add(1)
		}
	}
	w := c.execWindow(e)
	c.mu.Lock()
	n, ambiguous := c.aliveDuring(e.PID, w)
	if n != nil && !n.exited && !caughtUp && n.key.Start+execSlack < w.from {
		// Forks and exits may be pending, so a live node may be an old
		// owner of the pid whose exit is not applied yet: /proc decides.
		// One that started within the exec's window is the process that
		// exec'd: an old owner would have had to exit and the pid to come
		// round again within those few ticks.
		k := n.key
		c.mu.Unlock()
		c.stats.procReads.Add(1)
		st, err := c.proc.Stat(int(e.PID))
		c.mu.Lock()
		switch {
		case err == nil && sameProcess(Key{e.PID, st.StartTime}, k):
			if n.gone {
				n = c.lookupLocked(k)
			}
		case err == nil && st.StartTime <= w.to:
			// A newer owner that started before the exec: it is the one
			// (read from /proc below); the old node's exit is still on its
			// way, to be matched to the old node when it comes.
			n = nil
		default:
			// Gone: either owner could have exec'd. If it was a new one
			// whose fork is still queued, that fork takes the image.
			c.pending.add(e, w.to, c.clock.now())
			c.mu.Unlock()
			c.stats.ambiguous.Add(1)
			return c.execUnknown(e, StopAmbiguous)
		}
	}
	if ambiguous {
		// The pid was recycled within the exec's window: the clocks cannot
		// tell the two incarnations apart. The live one may still show
		// what it exec'd; if not, say so rather than pick.
		c.mu.Unlock()
		n = c.execedByLive(e)
		c.mu.Lock()
		if n != nil && n.gone {
			n = c.lookupLocked(n.key)
		}
		if n == nil {
			c.mu.Unlock()
			c.stats.ambiguous.Add(1)
			return c.execUnknown(e, StopAmbiguous)
		}
	}
	if n == nil {
		// No fork event announced it: the process predates the fork
		// source, or its fork was lost. /proc knows it if it still runs
		// and started before the exec; a later owner of the pid is not it.
		c.mu.Unlock()
		fresh, ok := c.readProc(e.PID)
		if !ok || fresh.key.Start > w.to {
			c.stats.startUnknown.Add(1)
			c.mu.Lock()
			c.pending.add(e, w.to, c.clock.now())
			c.mu.Unlock()
			return c.execUnknown(e, StopUnknownProcess)
		}
		if e.PPID > 0 {
			// The exec's parent is the parent at the exec; /proc's, read
			// later, may already be a reaper.
			fresh.parentKey = Key{PID: e.PPID}
		}
		c.mu.Lock()
		n = c.addLocked(fresh)
	}
	defer c.mu.Unlock()
	c.eventLocked(n)
	if e.PPID > 0 {
		n.ppid = e.PPID
	}
	n.path, n.cmdline, n.pathKnown, n.cmdlineKnown = e.Path, e.Cmdline, true, true
	n.exe = exeName(e.Path, n.exe)
	n.element = nil
	c.linkParentLocked(n)
	if n.parentKey.Start != 0 && n.parentKey.PID != e.PPID {
		c.stats.reparented.Add(1)
	}
	c.touch(n)
	c.expireLocked()
	c.evictLocked()
	return ExecResult{Key: n.key, OriginalParent: n.originalPPID(), Chain: c.chainLocked(n)}
}

// execedByLive returns the cached node of the process now running with
// e's pid if /proc shows it running e's arguments, read between two stats
// that agree on its start: then it is the one that exec'd.
func (c *Cache) execedByLive(e ExecEvent) *node {
	c.stats.procReads.Add(1)
	st, err := c.proc.Stat(int(e.PID))
	if err != nil {
		return nil
	}
	cmd, err := c.proc.Cmdline(int(e.PID))
	if err != nil || procfs.JoinCmdline(cmd) != e.Cmdline {
		return nil
	}
	if again, err := c.proc.Stat(int(e.PID)); err != nil || again.StartTime != st.StartTime {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookupLocked(Key{e.PID, st.StartTime})
}

// linkParentLocked links n to its parent's node if that is cached: the
// one it has the key of, else the incarnation of its parent pid that was
// alive when n started.
func (c *Cache) linkParentLocked(n *node) {
	if n.parent != nil && !n.parent.gone {
		return
	}
	var p *node
	if n.parentKey.Start != 0 {
		p = c.lookupLocked(n.parentKey)
	} else if ppid := n.originalPPID(); ppid > 0 {
		p, _ = c.aliveAt(ppid, n.key.Start, tickSlack)
	}
	if p != nil {
		c.link(n, p)
	}
}

// execUnknown builds the chain of an exec whose process could not be
// identified: from the parent the event names, alive at the exec. The
// elements are certain; whether that parent is the one that forked the
// process is not (it may be a reaper), so the chain is never complete.
func (c *Cache) execUnknown(e ExecEvent, why Stop) ExecResult {
	res := ExecResult{Key: Key{PID: e.PID}, Chain: Chain{JSON: []byte("[]"), Stop: why}}
	empty := func() ExecResult {
		c.stats.chains.Add(1)
		c.stats.stops[why].Add(1)
		return res
	}
	if e.PPID <= 0 {
		return empty()
	}
	w := c.execWindow(e)
	c.mu.Lock()
	p, ambiguous := c.aliveDuring(e.PPID, w)
	c.mu.Unlock()
	if ambiguous {
		return empty()
	}
	if p == nil {
		fresh, ok := c.readProc(e.PPID)
		if !ok || fresh.key.Start > w.to {
			return empty()
		}
		c.mu.Lock()
		p = c.addLocked(fresh)
		c.linkParentLocked(p)
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.chainFromLocked(p)
	// The walk counted how it ended; what ends this chain is why.
	c.stats.stops[ch.Stop].Add(^uint64(0))
	c.stats.stops[why].Add(1)
	ch.Complete, ch.Stop = false, why
	res.Chain = ch
	return res
}

// forkBoundary is how far into a tick a fork event's time must fall for
// its tick to be taken as the child's start without asking /proc. The
// kernel reads the child's start a few microseconds (an interrupt, at
// worst) before it stamps the fork event; only when the stamp falls just
// after a tick boundary can the start be in the tick before. One fork in
// ten is checked, at the cost of one stat read.
const forkBoundary = time.Millisecond

// Fork records a new process: it runs its parent's image until it execs,
// so it starts with the parent's path and arguments. at is the fork's time
// on the boot clock as the fork event gives it; 0 (a source that does not
// know it) makes the cache read /proc, and a child already gone gets no
// node.
func (c *Cache) Fork(parent, child int32, at time.Duration) Key {
	c.stats.forks.Add(1)
	const tick = time.Second / procfs.ClockTicks
	start := uint64(at / tick)
	startRead := false
	if !c.Enabled() {
		return Key{child, start}
	}
	if at == 0 || at%tick < forkBoundary {
		// Unknown, or maybe a tick late: /proc has the start exactly, if
		// the child still runs and is still the process forked then.
		c.stats.procReads.Add(1)
		st, err := c.proc.Stat(int(child))
		switch {
		case err == nil && (at == 0 || st.StartTime+forkLag >= start && st.StartTime <= start):
			start, startRead = st.StartTime, true
		case at == 0:
			c.stats.startUnknown.Add(1)
			return Key{PID: child}
		default:
			c.stats.startEstimated.Add(1)
		}
	}
	k := Key{child, start}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.lookupLocked(k); n != nil {
		return n.key
	}
	p, _ := c.aliveAt(parent, start, tickSlack)
	if p == nil {
		// The parent predates the cache; read it, and take it only if it
		// started before the child: by the time the event is handled it
		// may have exited and its pid gone to a younger process.
		c.mu.Unlock()
		pn, ok := c.readProc(parent)
		c.mu.Lock()
		if ok && pn.key.Start <= start+tickSlack {
			p = c.addLocked(pn)
			c.linkParentLocked(p)
		}
		if n := c.lookupLocked(k); n != nil {
			return n.key // added meanwhile
		}
	} else if !p.startRead && !p.exited {
		// The parent is about to be named in its child's chains, and it is
		// running now (it forked): the moment to check the start its own
		// fork event gave it (confirmStartLocked).
		c.confirmStartLocked(p)
		if n := c.lookupLocked(k); n != nil {
			return n.key // added meanwhile
		}
	}
	// A live older incarnation of the pid means its exit was never
	// reported (a lost event): it ended before this process could get
	// the pid.
	for _, old := range c.byPID[child] {
		if !old.exited && old.key.Start < start {
			c.exitLocked(old, start)
			c.stats.impliedExits.Add(1)
		}
	}
	n := &node{key: k, ppid: parent, parentKey: Key{PID: parent}, startRead: startRead, lastEvent: c.clock.now()}
	if p != nil {
		n.exe, n.path, n.cmdline = p.exe, p.path, p.cmdline
		n.pathKnown, n.cmdlineKnown, n.kernelThread = p.pathKnown, p.cmdlineKnown, p.kernelThread
	}
	if x, ok := c.pending.take(child, start); ok {
		// Its exec was handled before this fork arrived (the fork source
		// fell behind): the node takes the image the exec gave, not its
		// parent's.
		n.exe, n.path, n.cmdline = exeName(x.path, n.exe), x.path, x.cmdline
		n.pathKnown, n.cmdlineKnown = true, true
		c.stats.lateForks.Add(1)
	}
	n = c.addLocked(n)
	if p != nil {
		c.link(n, p)
	}
	c.expireLocked()
	c.evictLocked()
	return n.key
}

// Exit records that a process ended, at ticks since boot (the exit
// event's time; 0: now). Its node stays for the TTL, and as long as a
// cached child needs it, so its children's chains still name it.
func (c *Cache) Exit(pid int32, ticks uint64) {
	c.stats.exits.Add(1)
	if ticks == 0 {
		ticks = c.clock.ticksAt(time.Time{})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.exitingAt(pid, ticks)
	if n == nil {
		return
	}
	c.exitLocked(n, ticks)
	c.expireLocked()
}

func (c *Cache) exitLocked(n *node, ticks uint64) {
	n.exited, n.exitedAt, n.exitTicks = true, c.clock.now(), ticks
	c.eventLocked(n)
	c.exits = append(c.exits, n)
	c.relist(n)
	// Its live children are orphans now: only the cache knows who their
	// parent was.
	for ch := n.firstChild; ch != nil; ch = ch.nextSib {
		c.relist(ch)
	}
}

// pendingExecs holds execs whose process was unknown when they were
// handled, until a late fork event announces the process: its node then
// gets the exec's image instead of its parent's, so its children's chains
// name what it ran. Bounded in count and in age.
type pendingExecs struct {
	byPID map[int32]pendingExec
	order []int32 // insertion order, for the bound
}

type pendingExec struct {
	at            uint64 // the latest the exec can have happened, ticks since boot
	path, cmdline string
	added         time.Time
}

const (
	pendingMax = 1024
	pendingAge = 10 * time.Second
)

func (p *pendingExecs) add(e ExecEvent, at uint64, now time.Time) {
	if p.byPID == nil {
		p.byPID = map[int32]pendingExec{}
	}
	for len(p.order) > 0 && (len(p.byPID) >= pendingMax || now.Sub(p.byPID[p.order[0]].added) > pendingAge) {
		delete(p.byPID, p.order[0])
		p.order = p.order[1:]
	}
	if _, ok := p.byPID[e.PID]; !ok {
		p.order = append(p.order, e.PID)
	}
	p.byPID[e.PID] = pendingExec{at: at, path: e.Path, cmdline: e.Cmdline, added: now}
}

// take returns the pending exec of pid if it happened after a process
// that started at start did.
func (p *pendingExecs) take(pid int32, start uint64) (pendingExec, bool) {
	x, ok := p.byPID[pid]
	if !ok || x.at < start {
		return pendingExec{}, false
	}
	delete(p.byPID, pid)
	return x, true
}
