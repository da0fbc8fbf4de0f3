package ancestry

import (
	"github.com/gosquery/gosquery/internal/jsonw"
)

// Chain is an ancestry chain, rendered.
type Chain struct {
	// JSON is the array, parent first; always valid JSON ("[]" when empty).
	JSON []byte
	// Depth is the number of elements.
	Depth int
	// Complete means the chain reached a root (a process whose parent is
	// pid 0: init, or kthreadd for kernel threads).
	Complete bool
	// Truncated means the depth limit cut the chain short.
	Truncated bool
}

// Ancestry returns the chain of ancestors of the process k, its parent
// first. A process the cache has not seen is read from /proc and checked
// against k's start time; parents missing from the cache are read from
// /proc the same way, and the chain stops where a parent cannot be
// confirmed rather than guessing.
func (c *Cache) Ancestry(k Key) Chain {
	out := Chain{JSON: []byte("[]")}
	c.mu.Lock()
	if c.capacity <= 0 {
		c.mu.Unlock()
		return out
	}
	c.stats.chains.Add(1)
	cur := c.lookupLocked(k)
	if cur == nil {
		c.mu.Unlock()
		n, ok := c.readProc(k.PID)
		if !ok || !sameProcess(n.key, k) && k.Start != 0 {
			return out
		}
		c.mu.Lock()
		cur = c.insertLocked(n)
	}
	c.touch(cur)
	chain := make([]*node, 0, 16)
	visited := make([]Key, 0, 16)
	visited = append(visited, cur.key)
	for c.maxDepth <= 0 || len(chain) < c.maxDepth {
		if cur.ppid <= 0 {
			break
		}
		p := c.parentLocked(cur)
		if p == nil {
			break
		}
		if containsKey(visited, p.key) {
			// A parent loop can only come from corrupt input; stop.
			break
		}
		visited = append(visited, p.key)
		chain = append(chain, p)
		cur = p
	}
	out.Depth = len(chain)
	out.Complete = cur.ppid <= 0
	if !out.Complete && c.maxDepth > 0 && len(chain) >= c.maxDepth {
		out.Truncated = true
		c.stats.truncated.Add(1)
		// The last element still names its parent's start time.
		if cur.parent.Start == 0 {
			c.parentLocked(cur)
		}
	}
	if out.Complete {
		c.stats.complete.Add(1)
	}
	// Encode once the walk is done, so every element's parent is resolved,
	// into one buffer of the exact size.
	size := 2 + len(chain)
	for _, n := range chain {
		c.encodeLocked(n)
		size += len(n.element)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, n := range chain {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, n.element...)
	}
	c.mu.Unlock()
	out.JSON = append(buf, ']')
	return out
}

func containsKey(ks []Key, k Key) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// parentLocked finds cur's parent, from the cache when it can (a hit) or
// from /proc (a miss). It is called with mu held and may release it while
// reading /proc.
func (c *Cache) parentLocked(cur *node) *node {
	if p := cur.parentNode; p != nil {
		if !p.gone {
			c.stats.hits.Add(1)
			c.touch(p)
			return p
		}
		cur.parentNode = nil
	}
	if cur.parent.Start != 0 {
		if p := c.lookupLocked(cur.parent); p != nil {
			c.stats.hits.Add(1)
			cur.parentNode = p
			c.touch(p)
			return p
		}
	} else if p := c.parentCandidateLocked(cur.ppid, cur.key.Start); p != nil {
		c.stats.hits.Add(1)
		cur.parent, cur.parentNode, cur.element = p.key, p, nil
		c.touch(p)
		return p
	}
	c.stats.misses.Add(1)
	want, ppid, childStart := cur.parent, cur.ppid, cur.key.Start
	c.mu.Unlock()
	n, ok := c.readProc(ppid)
	c.mu.Lock()
	if !ok {
		return nil
	}
	// The live process must be the parent we know, or, when we know only
	// the pid, at least not younger than the child (else the pid was
	// recycled after the real parent exited).
	if want.Start != 0 && !sameProcess(n.key, want) || want.Start == 0 && n.key.Start > childStart+1 {
		c.stats.procFailures.Add(1)
		return nil
	}
	p := c.insertLocked(n)
	if cur.parent.Start == 0 {
		cur.parent, cur.element = p.key, nil
	}
	cur.parentNode = p
	return p
}

// encodeLocked renders the node's JSON object once and keeps the bytes: a
// node's fields only change on exec, which clears them.
func (c *Cache) encodeLocked(n *node) {
	if n.element == nil {
		e := make([]byte, 0, 128+len(n.path)+len(n.cmdline))
		hr := c.ProcTimeHR(n.key.Start)
		var parentHR int64
		if n.parent.Start != 0 {
			parentHR = c.ProcTimeHR(n.parent.Start)
		}
		e = append(e, `{"exe_name":`...)
		e = jsonw.AppendString(e, n.exe)
		e = append(e, `,"pid":`...)
		e = jsonw.AppendInt(e, int64(n.key.PID))
		e = append(e, `,"ppid":`...)
		e = jsonw.AppendInt(e, int64(n.ppid))
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
}

// Process is what the cache knows about one process.
type Process struct {
	Key     Key
	PPID    int32
	Exe     string
	Path    string
	Cmdline string
	Exited  bool
}

// Live returns the live process with this pid, identified by its current
// start time. The cache's node is used when it is the same process (it may
// know the parent from before a reparenting); otherwise /proc is read and
// the node added.
func (c *Cache) Live(pid int32) (Process, bool) {
	st, err := c.proc.Stat(int(pid))
	if err != nil {
		return Process{}, false
	}
	k := Key{pid, st.StartTime}
	c.mu.Lock()
	n := c.lookupLocked(k)
	c.mu.Unlock()
	if n == nil {
		fresh, ok := c.readProc(pid)
		if !ok || !sameProcess(fresh.key, k) {
			return Process{}, false
		}
		if !c.Enabled() {
			return fresh.info(), true
		}
		c.mu.Lock()
		n = c.insertLocked(fresh)
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.info(), true
}

func (n *node) info() Process {
	return Process{Key: n.key, PPID: n.ppid, Exe: n.exe, Path: n.path, Cmdline: n.cmdline, Exited: n.exited}
}
