package ancestry

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// counters are the cache's statistics, read by process_ancestry_cache_stats.
type counters struct {
	hits, misses            atomic.Uint64
	procReads, procFailures atomic.Uint64
	procMismatches          atomic.Uint64
	evictions, expirations  atomic.Uint64
	evictedRecovered        atomic.Uint64
	overTarget, peak        atomic.Uint64
	chains                  atomic.Uint64
	stops                   [stopCount]atomic.Uint64
	unreadable              atomic.Uint64
	execs, forks, exits     atomic.Uint64
	startUnknown, ambiguous atomic.Uint64
	startEstimated          atomic.Uint64
	lateForks               atomic.Uint64
	startCorrected          atomic.Uint64
	reparented              atomic.Uint64
	impliedExits            atomic.Uint64
	scanned                 atomic.Uint64
	catchUpFailures         atomic.Uint64
}

// Stats is a snapshot of the cache's counters, for
// process_ancestry_cache_stats and for tuning. Counters only grow; sizes
// are the current ones.
type Stats struct {
	// Hits and Misses count parent lookups answered by the cache and not
	// (then /proc is read; ProcReads counts every read).
	Hits, Misses uint64
	// Size is the node count now, Capacity its target
	// (process_ancestry_cache_size), Peak the highest size seen.
	Size, Capacity, Peak int
	// PinnedNodes cannot be evicted now: ancestors of cached processes,
	// and live processes whose parent exited.
	PinnedNodes int
	LiveNodes   int
	ExitedNodes int
	// OverTarget counts the times the cache stayed above Capacity because
	// every node was pinned.
	OverTarget uint64
	// Evictions are nodes dropped by the target, Expirations exited
	// nodes dropped after the TTL.
	Evictions, Expirations uint64
	// EvictedRecovered counts evicted parents that a chain needed and
	// /proc gave back (still alive); Stops[StopEvicted] those it could
	// not, which cut a chain short. Both say the cache is too small.
	EvictedRecovered uint64
	// ProcReads and ProcFailures count /proc lookups and those that found
	// the process gone; ProcMismatches those that found the pid owned by
	// another process than the one wanted.
	ProcReads, ProcFailures, ProcMismatches uint64
	// Chains built; Stops counts them by how they ended (StopRoot: the
	// complete ones).
	Chains uint64
	Stops  [stopCount]uint64
	// Unreadable counts chain elements emitted with an unknown path or
	// arguments.
	Unreadable uint64
	// Execs, Forks and Exits are the events applied.
	Execs, Forks, Exits uint64
	// StartUnknown counts processes whose start time no source gave (no
	// fork event, gone from /proc): they get no node, never a made-up
	// start. Ambiguous counts execs by a pid recycled too close to tell.
	StartUnknown, Ambiguous uint64
	// StartCorrected counts fork events whose tick /proc showed to be one
	// late, corrected when the process exec'd.
	StartCorrected uint64
	// LateForks counts forks that arrived after their process's exec had
	// been handled (the exec's image was kept for them).
	LateForks uint64
	// StartEstimated counts forks whose start time is the fork event's
	// tick because /proc no longer had the child to confirm it: it may be
	// one tick (10 ms) late. The identity is still certain (a pid is not
	// recycled within a tick).
	StartEstimated uint64
	// Reparented counts execs whose parent had changed since the fork: the
	// chain follows the original parent.
	Reparented uint64
	// ImpliedExits counts processes found alive by a fork of their pid: an
	// exit event was lost.
	ImpliedExits uint64
	Scanned      uint64
	// CatchUpFailures counts execs for which the fork and exit events
	// could not be brought up to date in time.
	CatchUpFailures uint64
	MaxDepth        int
	TTL             time.Duration
	// Source names what feeds forks and exits (SetSource).
	Source string
}

// Complete is the number of chains that reached a root.
func (s Stats) Complete() uint64 { return s.Stops[StopRoot] }

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	s := Stats{
		Hits:             c.stats.hits.Load(),
		Misses:           c.stats.misses.Load(),
		Size:             len(c.byKey),
		Capacity:         c.capacity,
		Peak:             int(c.stats.peak.Load()),
		PinnedNodes:      len(c.byKey) - c.young.n - c.old.n,
		OverTarget:       c.stats.overTarget.Load(),
		Evictions:        c.stats.evictions.Load(),
		Expirations:      c.stats.expirations.Load(),
		EvictedRecovered: c.stats.evictedRecovered.Load(),
		ProcReads:        c.stats.procReads.Load(),
		ProcFailures:     c.stats.procFailures.Load(),
		ProcMismatches:   c.stats.procMismatches.Load(),
		Chains:           c.stats.chains.Load(),
		Unreadable:       c.stats.unreadable.Load(),
		Execs:            c.stats.execs.Load(),
		Forks:            c.stats.forks.Load(),
		Exits:            c.stats.exits.Load(),
		StartUnknown:     c.stats.startUnknown.Load(),
		StartEstimated:   c.stats.startEstimated.Load(),
		LateForks:        c.stats.lateForks.Load(),
		StartCorrected:   c.stats.startCorrected.Load(),
		Ambiguous:        c.stats.ambiguous.Load(),
		Reparented:       c.stats.reparented.Load(),
		ImpliedExits:     c.stats.impliedExits.Load(),
		Scanned:          c.stats.scanned.Load(),
		CatchUpFailures:  c.stats.catchUpFailures.Load(),
		MaxDepth:         c.maxDepth,
		TTL:              c.ttl,
		Source:           c.source,
	}
	for i := range s.Stops {
		s.Stops[i] = c.stats.stops[i].Load()
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

// Advice reads the counters the way the README's tuning section does, so
// an operator sees in one column whether the chains can be trusted to be
// whole and what to change if not.
func (s Stats) Advice() string {
	var out []string
	if s.Capacity <= 0 {
		return "ancestry is off (process_ancestry_cache_size=0)"
	}
	// Misses after evictions are nodes read back from /proc that the
	// cache had to drop; a few are normal (processes it never saw).
	tooManyMisses := s.Evictions > 0 && s.Misses*100 > s.Hits+s.Misses
	if s.Stops[StopEvicted] > 0 || s.OverTarget > 0 || s.EvictedRecovered > 0 || tooManyMisses {
		out = append(out, "cache too small: set process_ancestry_cache_size above cache_peak ("+strconv.Itoa(s.Peak)+")")
	}
	if s.Stops[StopDepth] > 0 {
		out = append(out, "chains cut at process_ancestry_max_depth ("+strconv.Itoa(s.MaxDepth)+"): raise it")
	}
	if s.Source == "" || strings.HasPrefix(s.Source, "none") {
		out = append(out, "no fork and exit events: chains of short-lived or reparented processes stop early")
	}
	if s.CatchUpFailures > 0 || s.ImpliedExits > 0 {
		out = append(out, "fork and exit events were late or lost: see osquery_events and audit_status")
	}
	if len(out) == 0 {
		return "ok"
	}
	return strings.Join(out, "; ")
}

// SetSource names what feeds the cache's forks and exits ("proc_connector";
// "none: <why>" when nothing can), for the stats. The cache itself does not
// care where an event came from.
func (c *Cache) SetSource(name string) {
	c.mu.Lock()
	c.source = name
	c.mu.Unlock()
}
