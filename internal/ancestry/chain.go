package ancestry

import (
	"github.com/gosquery/gosquery/internal/jsonw"
)

// Stop says why a chain ends where it does.
type Stop uint8

// Why chains end. Only StopRoot is a complete chain; every other one ends
// early, and the elements it has are still certain.
const (
	// StopRoot: the last element's parent is pid 0 (init, or kthreadd for
	// kernel threads).
	StopRoot Stop = iota
	// StopDepth: process_ancestry_max_depth elements.
	StopDepth
	// StopEvicted: the next parent had been evicted and has exited since,
	// so /proc could not give it back: the cache is too small.
	StopEvicted
	// StopParentGone: the next parent was never cached and has exited, or
	// its pid now belongs to a younger process.
	StopParentGone
	// StopUnknownProcess: the exec's own process could not be identified
	// (no fork event, gone from /proc); the chain starts at the parent the
	// event names, which may be a reaper rather than the real parent.
	StopUnknownProcess
	// StopAmbiguous: the pid was recycled so close to the exec that either
	// incarnation could have made it.
	StopAmbiguous
	// StopLoop: the parent links form a cycle (corrupt input).
	StopLoop
	// StopNotFound: no process with that identity exists.
	StopNotFound
	// StopDisabled: ancestry is off (process_ancestry_cache_size=0).
	StopDisabled
	stopCount
)

var stopNames = [stopCount]string{"root", "depth", "evicted", "parent_gone", "unknown_process", "ambiguous", "loop", "not_found", "disabled"}

func (s Stop) String() string {
	if s < stopCount {
		return stopNames[s]
	}
	return "unknown"
}

// Chain is an ancestry chain, rendered.
type Chain struct {
	// JSON is the array, parent first; always valid JSON ("[]" when empty).
	JSON []byte
	// Depth is the number of elements.
	Depth int
	// Complete means the chain reached a root (Stop is StopRoot).
	Complete bool
	// Truncated means the depth limit cut the chain short.
	Truncated bool
	// Stop is why the chain ends there.
	Stop Stop
	// Unreadable counts elements whose path or arguments no source could
	// give (a zombie read from /proc, an exe link root may not read): they
	// carry empty strings.
	Unreadable int
}

// originalPPID is the pid of the process that forked n: the fork event's
// parent, else the parent /proc or the exec event showed.
func (n *node) originalPPID() int32 {
	if n.parentKey.PID != 0 {
		return n.parentKey.PID
	}
	return n.ppid
}

// Ancestry returns the chain of ancestors of the process k, its parent
// first. A process the cache has not seen is read from /proc and checked
// against k's start time; parents missing from the cache are read from
// /proc the same way, and the chain stops where a parent cannot be
// confirmed rather than guessing.
func (c *Cache) Ancestry(k Key) Chain {
	c.mu.Lock()
	if c.capacity <= 0 {
		c.mu.Unlock()
		return Chain{JSON: []byte("[]"), Stop: StopDisabled}
	}
	cur := c.lookupLocked(k)
	if cur == nil {
		c.mu.Unlock()
		n, ok := c.readProc(k.PID)
		if !ok || k.Start != 0 && !sameProcess(n.key, k) {
			c.stats.chains.Add(1)
			c.stats.stops[StopNotFound].Add(1)
			return Chain{JSON: []byte("[]"), Stop: StopNotFound}
		}
		c.mu.Lock()
		cur = c.insertLocked(n)
	}
	defer c.mu.Unlock()
	c.touch(cur)
	return c.chainLocked(cur)
}

// chainLocked builds the chain of n's ancestors, with mu held (released
// while /proc is read).
func (c *Cache) chainLocked(n *node) Chain { return c.walkLocked(n, false) }

// chainFromLocked builds the chain that starts with p itself.
func (c *Cache) chainFromLocked(p *node) Chain { return c.walkLocked(p, true) }

func (c *Cache) walkLocked(start *node, includeStart bool) Chain {
	c.stats.chains.Add(1)
	var buf [16]*node
	chain := buf[:0]
	cur := start
	if includeStart {
		chain = append(chain, start)
	}
	stop := StopRoot
	for {
		if cur.originalPPID() <= 0 {
			break
		}
		if c.maxDepth > 0 && len(chain) >= c.maxDepth {
			stop = StopDepth
			break
		}
		p, why := c.parentLocked(cur)
		if p == nil {
			stop = why
			break
		}
		c.confirmStartLocked(p)
		if p == start || containsNode(chain, p) {
			stop = StopLoop
			break
		}
		chain = append(chain, p)
		cur = p
	}
	c.stats.stops[stop].Add(1)
	out := Chain{Depth: len(chain), Stop: stop, Complete: stop == StopRoot, Truncated: stop == StopDepth}
	// Encode once the walk is done, so every element's parent is
	// resolved, into one buffer of the exact size.
	size := 2 + len(chain)
	for _, n := range chain {
		c.encodeLocked(n)
		size += len(n.element)
		if !n.pathKnown || !n.cmdlineKnown {
			out.Unreadable++
		}
	}
	if out.Unreadable > 0 {
		c.stats.unreadable.Add(uint64(out.Unreadable))
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, n := range chain {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n.element...)
	}
	out.JSON = append(b, ']')
	return out
}

func containsNode(ns []*node, n *node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// parentLocked finds cur's parent, from the cache when it can (a hit) or
// from /proc (a miss), and says why not when neither can. It is called
// with mu held and may release it while reading /proc.
func (c *Cache) parentLocked(cur *node) (*node, Stop) {
	if p := cur.parent; p != nil && !p.gone {
		c.stats.hits.Add(1)
		c.touch(p)
		return p, StopRoot
	}
	want := cur.parentKey
	if want.Start != 0 {
		if p := c.lookupLocked(want); p != nil {
			c.stats.hits.Add(1)
			c.link(cur, p)
			c.touch(p)
			return p, StopRoot
		}
	} else if p, _ := c.aliveAt(cur.originalPPID(), cur.key.Start, tickSlack); p != nil {
		c.stats.hits.Add(1)
		c.link(cur, p)
		c.touch(p)
		return p, StopRoot
	}
	c.stats.misses.Add(1)
	evicted := want.Start != 0 && c.evicted.has(want)
	ppid, childStart := cur.originalPPID(), cur.key.Start
	c.mu.Unlock()
	n, ok := c.readProc(ppid)
	c.mu.Lock()
	// The live process must be the parent we know, or, when we know only
	// the pid, at least not younger than the child (else the pid was
	// recycled after the real parent exited).
	if ok && (want.Start != 0 && sameProcess(n.key, want) || want.Start == 0 && n.key.Start <= childStart+tickSlack) {
		if evicted {
			c.stats.evictedRecovered.Add(1)
		}
		p := c.addLocked(n)
		c.link(cur, p)
		c.learnParent(cur, p)
		c.evictLocked()
		return p, StopRoot
	}
	if ok {
		c.stats.procMismatches.Add(1)
	}
	if evicted {
		return nil, StopEvicted
	}
	return nil, StopParentGone
}

// confirmStartLocked checks, once, a start time that came from a fork
// event against /proc while the process still runs: when it forks (Fork),
// or else the first time it is about to appear in a chain. Most processes
// never fork, and only parents appear in chains. The kernel
// reads a child's start a few microseconds before it stamps the fork
// event; on a loaded machine (an interrupt, a vCPU stolen in between) the
// stamp can land in the next tick, and /proc corrects it. It is called with
// mu held and releases it for the read.
func (c *Cache) confirmStartLocked(n *node) {
	if n.startRead || n.exited {
		return
	}
	n.startRead = true // one attempt: an exited process cannot be read
	want := n.key.Start
	c.mu.Unlock()
	c.stats.procReads.Add(1)
	st, err := c.proc.Stat(int(n.key.PID))
	c.mu.Lock()
	if err != nil || st.StartTime > want || st.StartTime+forkLag < want || n.key.Start != want {
		return
	}
	if st.StartTime != want {
		c.stats.startCorrected.Add(1)
		if n.gone {
			n.key.Start, n.element = st.StartTime, nil
		} else {
			c.rekeyLocked(n, st.StartTime)
		}
	}
}

// learnParent records p as cur's parent even when cur was evicted while
// /proc was read (link does nothing then): the walk goes on through p, and
// cur's element must name p's start.
func (c *Cache) learnParent(cur, p *node) {
	if cur.parentKey != p.key {
		cur.parentKey, cur.element = p.key, nil
	}
}

// encodeLocked renders the node's JSON object once and keeps the bytes: a
// node's fields only change on exec, and its parent's identity only when
// it is first learnt; both clear them.
func (c *Cache) encodeLocked(n *node) {
	if n.element != nil {
		return
	}
	e := make([]byte, 0, 128+len(n.path)+len(n.cmdline))
	hr := c.ProcTimeHR(n.key.Start)
	var parentHR int64
	if n.parentKey.Start != 0 {
		parentHR = c.ProcTimeHR(n.parentKey.Start)
	}
	e = append(e, `{"exe_name":`...)
	e = jsonw.AppendString(e, n.exe)
	e = append(e, `,"pid":`...)
	e = jsonw.AppendInt(e, int64(n.key.PID))
	e = append(e, `,"ppid":`...)
	e = jsonw.AppendInt(e, int64(n.originalPPID()))
	e = append(e, `,"pproc_time_hr":`...)
	e = jsonw.AppendInt(e, parentHR)
	e = append(e, `,"path":`...)
	e = jsonw.AppendString(e, n.path)
	e = append(e, `,"cmdline":`...)
	e = jsonw.AppendString(e, n.cmdline)
	e = append(e, `,"proc_time":`...)
	e = jsonw.AppendInt(e, hr/100)
	e = append(e, `,"proc_time_hr":`...)
	e = jsonw.AppendInt(e, hr)
	e = append(e, '}')
	n.element = e
}

// Process is what the cache knows about one process.
type Process struct {
	Key Key
	// PPID is the parent the kernel reports now; OriginalPPID the one
	// that forked the process (they differ after a reparenting).
	PPID, OriginalPPID int32
	Exe                string
	Path               string
	Cmdline            string
	Exited             bool
}

// Live returns the live process with this pid, identified by its current
// start time. The cache's node is used when it is the same process (it
// knows the parent from before a reparenting); otherwise /proc is read and
// the node added.
func (c *Cache) Live(pid int32) (Process, bool) {
	st, err := c.proc.Stat(int(pid))
	if err != nil {
		return Process{}, false
	}
	k := Key{pid, st.StartTime}
	c.mu.Lock()
	n := c.lookupLocked(k)
	var info Process
	if n != nil {
		info = n.info()
		info.PPID = int32(st.PPID)
	}
	c.mu.Unlock()
	if n != nil {
		return info, true
	}
	fresh, ok := c.readProc(pid)
	if !ok || !sameProcess(fresh.key, k) {
		return Process{}, false
	}
	if !c.Enabled() {
		return fresh.info(), true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insertLocked(fresh).info(), true
}

func (n *node) info() Process {
	return Process{Key: n.key, PPID: n.ppid, OriginalPPID: n.originalPPID(), Exe: n.exe, Path: n.path, Cmdline: n.cmdline, Exited: n.exited}
}
