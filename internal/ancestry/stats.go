package ancestry

import "time"

// Stats is a snapshot of the cache's counters, for
// process_ancestry_cache_stats and for tuning.
type Stats struct {
	// Hits and Misses count parent lookups answered by the cache and by
	// /proc; the hit rate is what process_ancestry_cache_size tunes.
	Hits, Misses uint64
	Size         int
	Capacity     int
	LiveNodes    int
	ExitedNodes  int
	// Evictions are nodes dropped by the LRU bound, Expirations exited
	// nodes dropped after the TTL.
	Evictions, Expirations uint64
	// ProcReads and ProcFailures count /proc lookups and those that found
	// the process gone or recycled.
	ProcReads, ProcFailures uint64
	// Chains built, how many reached a root, how many the depth limit cut.
	Chains, Complete, Truncated uint64
	Execs, Forks, Exits         uint64
	Scanned                     uint64
	// CatchUps counts execs that found their process or parent unknown
	// and first had pending fork/exit events applied (SetCatchUp).
	CatchUps uint64
	MaxDepth int
	TTL      time.Duration
}

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	s := Stats{
		Hits:         c.stats.hits.Load(),
		Misses:       c.stats.misses.Load(),
		Size:         len(c.byKey),
		Capacity:     c.capacity,
		Evictions:    c.stats.evictions.Load(),
		Expirations:  c.stats.expirations.Load(),
		ProcReads:    c.stats.procReads.Load(),
		ProcFailures: c.stats.procFailures.Load(),
		Chains:       c.stats.chains.Load(),
		Complete:     c.stats.complete.Load(),
		Truncated:    c.stats.truncated.Load(),
		Execs:        c.stats.execs.Load(),
		Forks:        c.stats.forks.Load(),
		Exits:        c.stats.exits.Load(),
		Scanned:      c.stats.scanned.Load(),
		CatchUps:     c.stats.catchUps.Load(),
		MaxDepth:     c.maxDepth,
		TTL:          c.ttl,
	}
	for _, n := range c.byKey {
		if n.exited {
			s.ExitedNodes++
		} else {
			s.LiveNodes++
		}
	}
	return s
}
