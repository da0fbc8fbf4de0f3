// Package ancestry owns process identity and the node cache that process
// ancestry chains are built from.
//
// A process is identified by its pid and its start time in clock ticks since
// boot, never by pid alone, so a recycled pid never inherits another
// process's chain. The cache holds one node per process (not whole chains):
// siblings share their ancestors, and a chain is assembled by following
// parent links. Nodes come from a /proc scan at start-up and from the event
// sources (Exec, Fork, Exit), which report what the event itself carries, so
// a process that has already exited still has a node with its real path and
// arguments. Exited nodes stay for the TTL; the node count is bounded by an
// LRU. /proc is the fallback for processes the cache has not seen, checked
// against the start time every time.
package ancestry

import (
	"path/filepath"
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
	key    Key
	ppid   int32
	parent Key // the parent's identity; Start 0 when not yet resolved
	// parentNode short-cuts the map lookup of parent while that node is
	// still in the cache (gone is checked on every use).
	parentNode *node
	// exe is the base name of path, or the kernel comm when the path is
	// unknown (kernel threads, unreadable exe links).
	exe     string
	path    string
	cmdline string
	exited  bool
	// exitedAt orders the expiry queue; TTL runs from the exit.
	exitedAt time.Time
	// exitTicks is the exit in ticks since boot: a process that started
	// later cannot be this one's child.
	exitTicks uint64
	// element caches the encoded JSON object of this node; cleared when
	// an exec changes the image.
	element []byte

	prev, next *node // LRU list, newest at head
	// ref marks a node used since it last reached the tail: eviction gives
	// it a second chance instead of every hit relinking the list, which
	// keeps lookups free of pointer writes.
	ref  bool
	gone bool // removed from the cache (evicted or expired)
}

// Config sets the cache's bounds and its view of the host.
type Config struct {
	// Capacity bounds the number of nodes (process_ancestry_cache_size);
	// 0 turns ancestry off.
	Capacity int
	// TTL is how long an exited process stays (process_ancestry_cache_ttl).
	TTL time.Duration
	// MaxDepth bounds chain length (process_ancestry_max_depth); 0 means
	// unlimited, still cycle-safe.
	MaxDepth int
	Proc     procfs.FS
	Now      func() time.Time
}

// Cache is the process node cache. It is safe for concurrent use; no lock
// is held across /proc reads.
type Cache struct {
	mu       sync.Mutex
	capacity int
	ttl      time.Duration
	maxDepth int
	proc     procfs.FS
	now      func() time.Time
	// bootHR is the boot time in hundredths of a second since the epoch:
	// with 100 clock ticks per second, proc_time_hr = bootHR + start ticks.
	bootHR int64

	byKey map[Key]*node
	// byPID holds the incarnations of each pid in the cache, oldest first;
	// nearly always one, two while a recycled pid's old owner is kept.
	byPID map[int32][]*node
	head  *node // LRU, most recently used
	tail  *node
	// exits queues exited nodes in exit order, which is expiry order
	// because the TTL is the same for all.
	exits []*node

	stats counters

	// catchUp, if set, brings the event inputs up to date (SetCatchUp).
	catchUp atomic.Pointer[func()]
}

// counters are the cache's statistics, read by process_ancestry_cache_stats.
type counters struct {
	hits, misses            atomic.Uint64
	procReads, procFailures atomic.Uint64
	evictions, expirations  atomic.Uint64
	chains, complete        atomic.Uint64
	truncated               atomic.Uint64
	execs, forks, exits     atomic.Uint64
	scanned                 atomic.Uint64
	catchUps                atomic.Uint64
}

// New returns an empty cache. Boot time is read once here.
func New(cfg Config) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{
		capacity: cfg.Capacity,
		ttl:      cfg.TTL,
		maxDepth: cfg.MaxDepth,
		proc:     cfg.Proc,
		now:      cfg.Now,
		byKey:    map[Key]*node{},
		byPID:    map[int32][]*node{},
	}
	if bt, err := cfg.Proc.BootTime(); err == nil {
		c.bootHR = bt.Unix() * procfs.ClockTicks
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
// Shrinking evicts the least recently used nodes at once.
func (c *Cache) Configure(capacity int, ttl time.Duration, maxDepth int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.capacity, c.ttl, c.maxDepth = capacity, ttl, maxDepth
	c.expireLocked()
	c.evictLocked()
}

// ProcTimeHR converts start ticks since boot to hundredths of a second
// since the epoch.
func (c *Cache) ProcTimeHR(startTicks uint64) int64 {
	return c.bootHR + int64(startTicks)
}

// --- LRU and expiry, all called with mu held ---

func (c *Cache) unlink(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else if c.head == n {
		c.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else if c.tail == n {
		c.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (c *Cache) pushFront(n *node) {
	n.next = c.head
	if c.head != nil {
		c.head.prev = n
	}
	c.head = n
	if c.tail == nil {
		c.tail = n
	}
}

func (c *Cache) touch(n *node) {
	if !n.ref {
		n.ref = true
	}
}

// remove drops a node from every index.
func (c *Cache) remove(n *node) {
	c.unlink(n)
	delete(c.byKey, n.key)
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
	n.gone = true
}

// evictLocked applies the LRU bound with the CLOCK approximation: a tail
// node used since its last pass goes back to the head once, an unused one
// is evicted.
func (c *Cache) evictLocked() {
	for spins := 0; len(c.byKey) > c.capacity && c.tail != nil; spins++ {
		t := c.tail
		if t.ref && spins < 2*len(c.byKey) {
			t.ref = false
			c.unlink(t)
			c.pushFront(t)
			continue
		}
		c.remove(t)
		c.stats.evictions.Add(1)
	}
}

func (c *Cache) expireLocked() {
	now := c.now()
	i := 0
	for ; i < len(c.exits); i++ {
		n := c.exits[i]
		if n.gone {
			continue
		}
		if now.Sub(n.exitedAt) < c.ttl {
			break
		}
		c.remove(n)
		c.stats.expirations.Add(1)
	}
	if i > 0 {
		c.exits = append(c.exits[:0], c.exits[i:]...)
	}
}

// insertLocked adds a node, or merges into the node already there for the
// same process, and returns the node in the cache.
func (c *Cache) insertLocked(n *node) *node {
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
	c.pushFront(n)
	c.expireLocked()
	c.evictLocked()
	return n
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

// newestLocked returns the newest incarnation of pid in the cache.
func (c *Cache) newestLocked(pid int32) *node {
	if inc := c.byPID[pid]; len(inc) > 0 {
		return inc[len(inc)-1]
	}
	return nil
}

// parentCandidateLocked returns the newest incarnation of ppid that could
// be the parent of a process that started at start (0 when unknown): a
// parent cannot start after its child, which rules out whoever got the pid
// after the real parent exited.
func (c *Cache) parentCandidateLocked(ppid int32, start uint64) *node {
	inc := c.byPID[ppid]
	for i := len(inc) - 1; i >= 0; i-- {
		n := inc[i]
		if start == 0 {
			return n
		}
		if n.key.Start > start+1 {
			continue // younger than the child: a later owner of the pid
		}
		if n.exited && n.exitTicks+1 < start {
			// It exited before the child started, so the child's parent
			// is someone who got the pid since, whom the cache has not
			// seen: /proc must answer.
			return nil
		}
		return n
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
