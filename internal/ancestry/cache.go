// Package ancestry owns process identity and the node cache that process
// ancestry chains are built from.
//
// A process is identified by its pid and its start time in clock ticks since
// boot, never by pid alone, so a recycled pid never inherits another
// process's chain. Start times come from the kernel only: a fork event or
// /proc, never an event's timestamp. The cache holds one node per process
// (not whole chains): siblings share their ancestors, and a chain is
// assembled by following parent links.
//
// A node's parent is the process that forked it (the fork event's parent,
// or the parent /proc showed when the node was first read), kept when the
// kernel later reparents the process to a reaper: a double-forked daemon
// still names its launcher. The parent the kernel reports now is kept
// beside it.
//
// The node count is a target, not a hard limit: nodes that a chain still
// needs and that /proc could not give back are pinned, and only the others
// are evicted, least recently used first. Pinned are nodes with cached
// children (the ancestors of every cached process) and live processes whose
// parent has exited (only the cache remembers who that parent was). Going
// over the target is counted, so an operator sees that the cache is too
// small instead of getting shorter chains. Exited nodes stay for the TTL,
// or as long as they are pinned.
//
// /proc is the fallback for processes the cache has not seen, checked
// against the expected start time every time; a chain that cannot be
// continued with certainty stops and says why (Chain.Stop).
package ancestry

import (
	"cmp"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// Key identifies one process: its pid and its start time in clock ticks
// since boot (field 22 of /proc/<pid>/stat).
type Key struct {
	PID   int32
	Start uint64
}

// sameProcess reports whether two keys name the same process. Start times
// learnt from the proc connector (nanoseconds) and from /proc (ticks) can
// round to neighbouring ticks, so one tick of slack is allowed; a pid cannot
// be recycled within 10 ms of its previous owner starting.
func sameProcess(a, b Key) bool {
	if a.PID != b.PID {
		return false
	}
	d := int64(a.Start) - int64(b.Start)
	return d >= -1 && d <= 1
}

// node is one process in the cache.
type node struct {
	key Key
	// ppid is the parent the kernel reported last (the exec record's, or
	// /proc's when the node was read): after a reparenting, the reaper.
	ppid int32
	// parentKey is the original parent: the process that forked this one,
	// or the parent /proc showed when it was read. Start 0 while unknown.
	parentKey Key
	// parent is parentKey's node while both are cached. The parent counts
	// its cached children (children, and the sibling list), which pins it.
	parent                       *node
	firstChild, prevSib, nextSib *node
	children                     int

	// exe is the base name of path, or the kernel comm when the path is
	// unknown (kernel threads, unreadable exe links).
	exe     string
	path    string
	cmdline string
	// pathKnown and cmdlineKnown are false when neither an exec event nor
	// /proc could give them (a zombie, a link that root may not read): the
	// element then carries an empty string, and the stats count it.
	pathKnown, cmdlineKnown bool
	kernelThread            bool
	// startRead is set once /proc confirmed key.Start. A fork event's
	// tick is nearly always the start, but the kernel reads the two
	// clocks microseconds apart, and on a loaded machine (an interrupt, a
	// stolen vCPU between them) the stamp can land in the next tick.
	startRead bool

	exited bool
	// exitTicks is the exit in ticks since boot (the exit event's time):
	// a process that started later cannot be this one's child, nor an exec
	// that happened later this one's.
	exitTicks uint64
	// exitedAt starts the TTL.
	exitedAt time.Time
	// lastEvent is when an event last touched the node (fork, exec,
	// exit); zero for nodes read from /proc.
	lastEvent time.Time
	// expireDue marks an exited node whose TTL ran out while it was
	// pinned; it goes as soon as nothing needs it.
	expireDue bool

	// element caches the encoded JSON object of this node; cleared when
	// an exec changes the image.
	element []byte

	// prev and next link the evictable nodes in list (young or old),
	// newest at head; list is nil while the node is pinned.
	prev, next *node
	list       *lruList
	// ref marks a node used since it last reached the tail: eviction gives
	// it a second chance instead of every hit relinking the list, which
	// keeps lookups free of pointer writes.
	ref  bool
	gone bool // removed from the cache (evicted or expired)
}

// pinned reports whether evicting n would lose what /proc cannot give
// back: the parent link of a cached child, or the original parent of a
// live orphan.
func (n *node) pinned() bool {
	return n.children > 0 || !n.exited && n.parent != nil && n.parent.exited
}

// Config sets the cache's bounds and its view of the host.
type Config struct {
	// Capacity is the target number of nodes (process_ancestry_cache_size);
	// 0 turns ancestry off.
	Capacity int
	// TTL is how long an exited process stays (process_ancestry_cache_ttl).
	TTL time.Duration
	// MaxDepth bounds chain length (process_ancestry_max_depth); 0 means
	// unlimited, still cycle-safe.
	MaxDepth int
	Proc     procfs.FS
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// SinceBoot is the boot clock, CLOCK_BOOTTIME (default: the kernel's).
	// With Now it converts an event's wall-clock time to ticks since boot.
	SinceBoot func() time.Duration
}

// Cache is the process node cache. It is safe for concurrent use; no lock
// is held across /proc reads.
type Cache struct {
	mu       sync.Mutex
	capacity int
	ttl      time.Duration
	maxDepth int
	proc     procfs.FS
	clock    *clock

	byKey map[Key]*node
	// byPID holds the incarnations of each pid in the cache, oldest first;
	// nearly always one, two while a recycled pid's old owner is kept.
	byPID map[int32][]*node
	// The evictable nodes: young ones (an event within eventGrace) in the
	// order of their last event, the others in CLOCK order, which is where
	// eviction takes from. Pinned nodes are on neither.
	young, old lruList
	// exits queues exited nodes in exit order, which is expiry order
	// because the TTL is the same for all.
	exits []*node
	// evicted remembers the keys of recently evicted nodes, so a chain cut
	// short because of an eviction is counted as such.
	evicted evictedSet
	// pending holds execs that came before their fork (inputs.go).
	pending pendingExecs

	stats  counters
	source string

	// catchUp, if set, brings the fork and exit inputs up to a time
	// (SetCatchUp).
	catchUp atomic.Pointer[CatchUp]
}

// New returns an empty cache. The boot time is read once here.
func New(cfg Config) *Cache {
	c := &Cache{
		capacity: cfg.Capacity,
		ttl:      cfg.TTL,
		maxDepth: cfg.MaxDepth,
		proc:     cfg.Proc,
		clock:    newClock(cfg.Proc, cfg.Now, cfg.SinceBoot),
		byKey:    map[Key]*node{},
		byPID:    map[int32][]*node{},
		evicted:  newEvictedSet(evictedMemory),
	}
	return c
}

// Enabled reports whether ancestry is on (capacity above zero).
func (c *Cache) Enabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capacity > 0
}

// Configure changes the bounds at run time (the config's options changed).
// Shrinking evicts at once what is not pinned; zero empties the cache.
func (c *Cache) Configure(capacity int, ttl time.Duration, maxDepth int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.capacity, c.ttl, c.maxDepth = capacity, ttl, maxDepth
	if capacity <= 0 {
		c.clearLocked()
		return
	}
	c.expireLocked()
	c.evictLocked()
}

// ProcTimeHR converts start ticks since boot to hundredths of a second
// since the epoch, as the ancestry JSON and process_ancestry give it.
func (c *Cache) ProcTimeHR(startTicks uint64) int64 {
	return c.clock.bootHR + int64(startTicks)
}

// --- the evictable list, expiry and removal; all with mu held ---

// lruList is a doubly linked list of nodes, newest at head.
type lruList struct {
	head, tail *node
	n          int
}

func (c *Cache) unlist(n *node) {
	l := n.list
	if l == nil {
		return
	}
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next, n.list = nil, nil, nil
	l.n--
}

func (c *Cache) pushFront(l *lruList, n *node) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
	n.list = l
	l.n++
}

// listed reports whether n may be evicted now.
func (n *node) listed() bool { return n.list != nil }

// evictable returns the list an unpinned node belongs on.
func (c *Cache) evictable(n *node) *lruList {
	if !n.lastEvent.IsZero() && c.clock.now().Sub(n.lastEvent) < eventGrace {
		return &c.young
	}
	return &c.old
}

// relist puts n on the evictable list or takes it off, as its pinned state
// now says; an exited node whose TTL ran out while pinned goes at once,
// which can free its parent in turn (a loop, not recursion: chains can be
// long).
func (c *Cache) relist(n *node) {
	for n != nil && !n.gone {
		pinned := n.pinned()
		switch {
		case pinned && n.listed():
			c.unlist(n)
		case !pinned && !n.listed() && n.expireDue:
			n = c.remove(n)
			c.stats.expirations.Add(1)
			continue
		case !pinned && !n.listed():
			c.pushFront(c.evictable(n), n)
		}
		return
	}
}

// eventLocked marks that an event touched n now, and moves it to the head
// of the evictable list: the list is then in order of last event, so the
// eviction's grace check can look at the tail only.
func (c *Cache) eventLocked(n *node) {
	n.lastEvent = c.clock.now()
	if n.listed() && c.young.head != n {
		c.unlist(n)
		c.pushFront(&c.young, n)
	}
}

func (c *Cache) touch(n *node) {
	if !n.ref {
		n.ref = true
	}
}

// link makes p the parent node of n.
func (c *Cache) link(n, p *node) {
	if n.parent == p || p == nil || p.gone || n.gone {
		return
	}
	c.relist(c.detach(n))
	n.parent = p
	if n.parentKey != p.key {
		n.parentKey, n.element = p.key, nil
	}
	n.prevSib, n.nextSib = nil, p.firstChild
	if p.firstChild != nil {
		p.firstChild.prevSib = n
	}
	p.firstChild = n
	p.children++
	if p.children == 1 {
		c.relist(p)
	}
	c.relist(n) // an orphan of an exited parent is pinned from now on
}

// detach drops n from its parent's children (the parent key stays) and
// returns the parent if that left it without children, for the caller to
// relist.
func (c *Cache) detach(n *node) *node {
	p := n.parent
	if p == nil {
		return nil
	}
	if n.prevSib != nil {
		n.prevSib.nextSib = n.nextSib
	} else {
		p.firstChild = n.nextSib
	}
	if n.nextSib != nil {
		n.nextSib.prevSib = n.prevSib
	}
	n.prevSib, n.nextSib, n.parent = nil, nil, nil
	p.children--
	if p.children == 0 {
		return p
	}
	return nil
}

// remove drops a node from every index and returns its parent if that is
// now childless (for the caller to relist). Only unpinned nodes are
// removed, so n has no cached children.
func (c *Cache) remove(n *node) *node {
	if n.gone {
		return nil
	}
	n.gone = true
	c.unlist(n)
	if c.byKey[n.key] == n {
		delete(c.byKey, n.key)
	}
	inc := c.byPID[n.key.PID]
	for i, m := range inc {
		if m == n {
			inc = append(inc[:i:i], inc[i+1:]...)
			break
		}
	}
	if len(inc) == 0 {
		delete(c.byPID, n.key.PID)
	} else {
		c.byPID[n.key.PID] = inc
	}
	return c.detach(n)
}

// eventGrace is how long after its last event a node is kept whatever
// the target: the events that refer to it (its exec from audit, its
// children's forks) are still on their way, milliseconds normally, more on
// a loaded machine. A process that exits that soon is only known through
// them.
const eventGrace = 2 * time.Second

// evictLocked applies the target with the CLOCK approximation of LRU over
// the evictable nodes: a tail node used since its last pass goes back to
// the head once, an unused one is evicted. Pinned nodes are never
// evicted, nor nodes within eventGrace of their last event; when only they
// are left the cache stays over its target, and says so.
func (c *Cache) evictLocked() {
	if len(c.byKey) <= c.capacity {
		return
	}
	// Nodes whose grace has passed join the CLOCK list.
	now := c.clock.now()
	for t := c.young.tail; t != nil && now.Sub(t.lastEvent) >= eventGrace; t = c.young.tail {
		c.unlist(t)
		c.pushFront(&c.old, t)
	}
	for spins := 0; len(c.byKey) > c.capacity; spins++ {
		t := c.old.tail
		if t == nil {
			// Only pinned nodes and nodes with events in flight are left.
			c.stats.overTarget.Add(1)
			return
		}
		if t.ref && spins < 2*c.old.n {
			t.ref = false
			c.unlist(t)
			c.pushFront(&c.old, t)
			continue
		}
		c.relist(c.remove(t))
		c.evicted.add(t.key)
		c.stats.evictions.Add(1)
	}
}

// expireLocked drops exited nodes whose TTL has run out; pinned ones are
// marked and go when they are freed (relist).
func (c *Cache) expireLocked() {
	now := c.clock.now()
	i := 0
	for ; i < len(c.exits); i++ {
		n := c.exits[i]
		if n.gone {
			continue
		}
		if now.Sub(n.exitedAt) < c.ttl {
			break
		}
		if n.pinned() {
			n.expireDue = true
			continue
		}
		c.relist(c.remove(n))
		c.stats.expirations.Add(1)
	}
	if i > 0 {
		c.exits = append(c.exits[:0], c.exits[i:]...)
	}
}

// clearLocked empties the cache (ancestry turned off).
func (c *Cache) clearLocked() {
	for _, n := range c.byKey {
		n.gone = true
		n.parent, n.firstChild, n.prevSib, n.nextSib, n.prev, n.next, n.list = nil, nil, nil, nil, nil, nil, nil
	}
	c.byKey, c.byPID = map[Key]*node{}, map[int32][]*node{}
	c.young, c.old, c.exits = lruList{}, lruList{}, nil
}

// insertLocked adds a node, or returns the node already there for the
// same process, and applies the bounds.
func (c *Cache) insertLocked(n *node) *node {
	n = c.addLocked(n)
	c.expireLocked()
	c.evictLocked()
	return n
}

// addLocked is insertLocked without applying the bounds, for a caller that
// links the node first (a node linked to its child is pinned, and must not
// be evicted before).
func (c *Cache) addLocked(n *node) *node {
	if old := c.lookupLocked(n.key); old != nil {
		return old
	}
	c.byKey[n.key] = n
	inc := c.byPID[n.key.PID]
	i := len(inc)
	for i > 0 && inc[i-1].key.Start > n.key.Start {
		i--
	}
	c.byPID[n.key.PID] = append(inc[:i:i], append([]*node{n}, inc[i:]...)...)
	c.relist(n)
	if size := uint64(len(c.byKey)); size > c.stats.peak.Load() {
		c.stats.peak.Store(size)
	}
	return n
}

// rekeyLocked corrects n's start time (as /proc gives it) in every index
// and in its cached children's parent keys.
func (c *Cache) rekeyLocked(n *node, start uint64) {
	if n.key.Start == start {
		return
	}
	if c.byKey[n.key] == n {
		delete(c.byKey, n.key)
	}
	n.key.Start = start
	if c.byKey[n.key] == nil {
		c.byKey[n.key] = n
	}
	inc := c.byPID[n.key.PID]
	slices.SortStableFunc(inc, func(a, b *node) int { return cmp.Compare(a.key.Start, b.key.Start) })
	n.element = nil
	for ch := n.firstChild; ch != nil; ch = ch.nextSib {
		ch.parentKey, ch.element = n.key, nil
	}
}

// lookupLocked finds the node of a process, tolerating the one-tick slack
// between start time sources.
func (c *Cache) lookupLocked(k Key) *node {
	if n := c.byKey[k]; n != nil {
		return n
	}
	for _, n := range c.byPID[k.PID] {
		if sameProcess(n.key, k) {
			return n
		}
	}
	return nil
}

// aliveAt returns the incarnation of pid alive at ticks (since boot),
// allowing slack ticks either side; see aliveDuring.
func (c *Cache) aliveAt(pid int32, ticks, slack uint64) (n *node, ambiguous bool) {
	return c.aliveDuring(pid, window{ticks - min(ticks, slack), ticks + slack})
}

// window is a span of ticks since boot in which an event happened.
type window struct{ from, to uint64 }

// aliveDuring returns the incarnation of pid alive at some point of w: the
// newest that had started by w.to and had not exited before w.from. An
// older one still marked alive is an owner whose exit is not applied yet
// (a pid has one owner at a time, so the newer one proves it gone).
// ambiguous reports an older one that exited within w: a pid recycled
// inside the window, so either could have been it.
func (c *Cache) aliveDuring(pid int32, w window) (n *node, ambiguous bool) {
	inc := c.byPID[pid]
	for i := len(inc) - 1; i >= 0; i-- {
		m := inc[i]
		if m.key.Start > w.to {
			continue // started after that time: a later owner of the pid
		}
		if m.exited && m.exitTicks < w.from {
			break // gone before that time, and so are older ones
		}
		if n == nil {
			n = m
			continue
		}
		return n, m.exited
	}
	return n, false
}

// exitingAt returns the incarnation of pid that an exit at ticks ends: the
// oldest still marked alive that had started by then. Exits of one pid
// come in order, and a younger incarnation that started within the slack
// of the exit is the successor, not the one exiting.
func (c *Cache) exitingAt(pid int32, ticks uint64) *node {
	for _, m := range c.byPID[pid] {
		if m.key.Start > ticks+tickSlack {
			return nil
		}
		if !m.exited {
			return m
		}
	}
	return nil
}

// exeName is the base name of the path, or the comm when there is none.
func exeName(path, comm string) string {
	if path == "" {
		return comm
	}
	return filepath.Base(path)
}

// evictedMemory is how many evicted keys are remembered for the stats.
const evictedMemory = 4096

// evictedSet is a bounded set of recently evicted keys, oldest forgotten
// first.
type evictedSet struct {
	ring []Key
	next int
	set  map[Key]struct{}
}

func newEvictedSet(n int) evictedSet {
	return evictedSet{ring: make([]Key, 0, n), set: make(map[Key]struct{}, n)}
}

func (e *evictedSet) add(k Key) {
	if len(e.ring) < cap(e.ring) {
		e.ring = append(e.ring, k)
	} else {
		delete(e.set, e.ring[e.next])
		e.ring[e.next] = k
		e.next = (e.next + 1) % len(e.ring)
	}
	e.set[k] = struct{}{}
}

func (e *evictedSet) has(k Key) bool {
	if _, ok := e.set[k]; ok {
		return true
	}
	for d := -1; d <= 1; d += 2 {
		if _, ok := e.set[Key{k.PID, uint64(int64(k.Start) + int64(d))}]; ok {
			return true
		}
	}
	return false
}
