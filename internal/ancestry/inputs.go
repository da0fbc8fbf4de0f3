package ancestry

import (
	"context"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// readProc builds a node for a live process from /proc: stat for the
// identity and parent, the exe link for the path, cmdline for the
// arguments. ok is false when the process is gone.
func (c *Cache) readProc(pid int32) (*node, bool) {
	c.stats.procReads.Add(1)
	st, err := c.proc.Stat(int(pid))
	if err != nil {
		c.stats.procFailures.Add(1)
		return nil, false
	}
	n := &node{key: Key{PID: pid, Start: st.StartTime}, ppid: int32(st.PPID)}
	if link, err := c.proc.Exe(int(pid)); err == nil {
		n.path = strings.TrimSuffix(link, " (deleted)")
	}
	if b, err := c.proc.Cmdline(int(pid)); err == nil {
		n.cmdline = procfs.JoinCmdline(b)
	}
	n.exe = exeName(n.path, st.Comm)
	return n, true
}

// Scan seeds the cache with every running process, so that processes
// started before gosquery have ancestors too. With more processes than
// capacity, the most recently read win.
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
	for _, n := range nodes {
		c.insertLocked(n)
	}
	// Parents are resolved once every process is in, whatever the order
	// /proc listed them in.
	for _, n := range nodes {
		if !n.gone && n.parent.Start == 0 && n.ppid > 0 {
			if p := c.parentCandidateLocked(n.ppid, n.key.Start); p != nil {
				n.parent = p.key
			}
		}
	}
	c.stats.scanned.Add(uint64(len(nodes)))
	return nil
}

// ExecEvent is what an exec event source knows about a successful exec.
type ExecEvent struct {
	PID, PPID int32
	// Path is the new executable; Cmdline its arguments joined by spaces.
	Path    string
	Cmdline string
	// Start is the process's start in ticks since boot if the source knows
	// it; 0 makes the cache read /proc now.
	Start uint64
	// Time is when the exec happened, used as the start time of a process
	// that exited before /proc could be read and that the cache has not
	// seen fork.
	Time time.Time
}

// SetCatchUp installs fn (nil removes it), which applies the fork and exit
// events already reported but not yet given to the cache. Events come from
// two sources at their own pace: audit reports an exec, the proc connector
// the fork before it. Exec calls fn when the process or its parent is
// unknown, before it would read /proc: by then a short-lived parent may be
// gone, or a subshell reparented to init, and only the fork event still
// knows the real parent.
func (c *Cache) SetCatchUp(fn func()) {
	if fn == nil {
		c.catchUp.Store(nil)
		return
	}
	c.catchUp.Store(&fn)
}

// forkedStart returns the start time a fork event gave the exec's process
// (0 if none did), and whether its parent has a node. A node that started
// after the exec is a later owner of the pid.
func (c *Cache) forkedStart(e ExecEvent) (start uint64, parentKnown bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.newestLocked(e.PID); cur != nil && cur.ppid == e.PPID &&
		(e.Time.IsZero() || cur.key.Start <= c.ticksAt(e.Time)+1) {
		start = cur.key.Start
	}
	return start, e.PPID <= 0 || c.newestLocked(e.PPID) != nil
}

// Exec records that a process replaced its image, and returns the
// process's identity so the caller can ask for its ancestry right away,
// while the parents are still fresh.
func (c *Cache) Exec(e ExecEvent) Key {
	c.stats.execs.Add(1)
	if !c.Enabled() {
		return Key{PID: e.PID, Start: e.Start}
	}
	start := e.Start
	comm := ""
	if start == 0 {
		// A fork event usually announced this process already (and its
		// exit too, for a short-lived one: the proc connector is faster
		// than audit): its node carries the start time, and /proc need not
		// be read. When the process or its parent is unknown, the events
		// still pending are applied first (SetCatchUp).
		var parentKnown bool
		start, parentKnown = c.forkedStart(e)
		if fn := c.catchUp.Load(); fn != nil && (start == 0 || !parentKnown) {
			c.stats.catchUps.Add(1)
			(*fn)()
			start, _ = c.forkedStart(e)
		}
	}
	if start == 0 {
		// Read stat outside the lock: the process may be gone already. A
		// live process that started after the exec is a recycled pid, not
		// ours; one whose parent changed was merely reparented.
		if st, err := c.proc.Stat(int(e.PID)); err == nil && (e.Time.IsZero() || st.StartTime <= c.ticksAt(e.Time)+1) {
			start, comm = st.StartTime, st.Comm
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var n *node
	if start != 0 {
		n = c.lookupLocked(Key{e.PID, start})
	} else if cur := c.newestLocked(e.PID); cur != nil && cur.ppid == e.PPID && !cur.exited {
		// Forked and already gone: the fork event gave us its identity.
		n = cur
	}
	if n == nil {
		if start == 0 {
			start = c.ticksAt(e.Time)
		}
		n = &node{key: Key{e.PID, start}, ppid: e.PPID}
		n = c.insertLocked(n)
	}
	n.ppid = e.PPID
	n.path, n.cmdline = e.Path, e.Cmdline
	n.exe = exeName(e.Path, comm)
	n.element = nil
	if n.parent.Start == 0 || n.parent.PID != e.PPID {
		n.parent, n.parentNode = Key{}, nil
		if p := c.parentCandidateLocked(e.PPID, n.key.Start); p != nil {
			n.parent = p.key
		}
	}
	c.touch(n)
	return n.key
}

// ticksAt converts a wall-clock time to ticks since boot; the zero time
// means now.
func (c *Cache) ticksAt(t time.Time) uint64 {
	if t.IsZero() {
		t = c.now()
	}
	hr := t.UnixNano() / 1e7
	if hr <= c.bootHR {
		return 1
	}
	return uint64(hr - c.bootHR)
}

// Fork records a new process: it runs its parent's image until it execs,
// so it starts with the parent's path and arguments. start is the child's
// start in ticks since boot (0: now).
func (c *Cache) Fork(parent, child int32, start uint64) Key {
	c.stats.forks.Add(1)
	if start == 0 {
		start = c.ticksAt(time.Time{})
	}
	k := Key{child, start}
	if !c.Enabled() {
		return k
	}
	c.mu.Lock()
	p := c.parentCandidateLocked(parent, start)
	c.mu.Unlock()
	if p == nil {
		// The parent predates the cache; read it while it is surely alive
		// (it is forking right now).
		if pn, ok := c.readProc(parent); ok {
			c.mu.Lock()
			p = c.insertLocked(pn)
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.lookupLocked(k); n != nil {
		return n.key
	}
	n := &node{key: k, ppid: parent}
	if p != nil {
		n.parent = p.key
		n.exe, n.path, n.cmdline = p.exe, p.path, p.cmdline
	}
	return c.insertLocked(n).key
}

// Exit records that a process ended. Its node stays for the TTL so its
// children's chains still name it. start 0 means the newest process with
// that pid.
func (c *Cache) Exit(pid int32, start uint64) {
	c.stats.exits.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	var n *node
	if start != 0 {
		n = c.lookupLocked(Key{pid, start})
	} else {
		n = c.newestLocked(pid)
	}
	if n == nil || n.exited {
		return
	}
	n.exited, n.exitedAt = true, c.now()
	n.exitTicks = c.ticksAt(n.exitedAt)
	c.exits = append(c.exits, n)
	c.expireLocked()
}
