package system

import (
	"context"

	"github.com/gosquery/gosquery/internal/ancestry"
	"github.com/gosquery/gosquery/internal/table"
)

// process_ancestry_cache_stats is gosquery's own table: the ancestry node
// cache's counters, for tuning process_ancestry_cache_size and _ttl. Query
// the daemon's live cache with `osqueryi --connect`.
var processAncestryCacheStatsSpec = table.Spec{
	Name:        "process_ancestry_cache_stats",
	Description: "Counters of the process ancestry node cache, and what they say about its tuning.",
	Columns: []table.Column{
		table.BigInt("cache_hits"),
		table.BigInt("cache_misses"),
		table.BigInt("cache_size"),
		table.BigInt("cache_capacity"),
		table.BigInt("cache_peak"),
		table.Double("hit_rate"),
		table.BigInt("live_nodes"),
		table.BigInt("exited_nodes"),
		table.BigInt("pinned_nodes"),
		table.BigInt("over_target"),
		table.BigInt("evictions"),
		table.BigInt("evicted_recovered"),
		table.BigInt("expirations"),
		table.BigInt("proc_reads"),
		table.BigInt("proc_read_failures"),
		table.BigInt("proc_mismatches"),
		table.BigInt("chains_built"),
		table.BigInt("chains_complete"),
		table.BigInt("chains_truncated"),
		table.BigInt("chains_cut_by_eviction"),
		table.BigInt("chains_parent_gone"),
		table.BigInt("chains_unknown_process"),
		table.BigInt("chains_ambiguous"),
		table.BigInt("unreadable_elements"),
		table.BigInt("exec_events"),
		table.BigInt("fork_events"),
		table.BigInt("exit_events"),
		table.BigInt("start_unknown"),
		table.BigInt("start_estimated"),
		table.BigInt("start_corrected"),
		table.BigInt("late_forks"),
		table.BigInt("reparented"),
		table.BigInt("implied_exits"),
		table.BigInt("catch_up_failures"),
		table.BigInt("scanned_processes"),
		table.Text("fork_source"),
		table.Integer("max_depth"),
		table.BigInt("ttl"),
		table.Text("advice"),
	},
}

type processAncestryCacheStatsRow struct {
	Hits             uint64  `col:"cache_hits"`
	Misses           uint64  `col:"cache_misses"`
	Size             int64   `col:"cache_size"`
	Capacity         int64   `col:"cache_capacity"`
	Peak             int64   `col:"cache_peak"`
	HitRate          float64 `col:"hit_rate"`
	LiveNodes        int64   `col:"live_nodes"`
	ExitedNodes      int64   `col:"exited_nodes"`
	PinnedNodes      int64   `col:"pinned_nodes"`
	OverTarget       uint64  `col:"over_target"`
	Evictions        uint64  `col:"evictions"`
	EvictedRecovered uint64  `col:"evicted_recovered"`
	Expirations      uint64  `col:"expirations"`
	ProcReads        uint64  `col:"proc_reads"`
	ProcFailures     uint64  `col:"proc_read_failures"`
	ProcMismatches   uint64  `col:"proc_mismatches"`
	Chains           uint64  `col:"chains_built"`
	Complete         uint64  `col:"chains_complete"`
	Truncated        uint64  `col:"chains_truncated"`
	CutByEviction    uint64  `col:"chains_cut_by_eviction"`
	ParentGone       uint64  `col:"chains_parent_gone"`
	UnknownProcess   uint64  `col:"chains_unknown_process"`
	Ambiguous        uint64  `col:"chains_ambiguous"`
	Unreadable       uint64  `col:"unreadable_elements"`
	Execs            uint64  `col:"exec_events"`
	Forks            uint64  `col:"fork_events"`
	Exits            uint64  `col:"exit_events"`
	StartUnknown     uint64  `col:"start_unknown"`
	StartEstimated   uint64  `col:"start_estimated"`
	StartCorrected   uint64  `col:"start_corrected"`
	LateForks        uint64  `col:"late_forks"`
	Reparented       uint64  `col:"reparented"`
	ImpliedExits     uint64  `col:"implied_exits"`
	CatchUpFailures  uint64  `col:"catch_up_failures"`
	Scanned          uint64  `col:"scanned_processes"`
	ForkSource       string  `col:"fork_source"`
	MaxDepth         int64   `col:"max_depth"`
	TTL              int64   `col:"ttl"`
	Advice           string  `col:"advice"`
}

func init() { table.Register(processAncestryCacheStatsSpec, generateProcessAncestryCacheStats) }

func generateProcessAncestryCacheStats(ctx context.Context, q *table.Query, emit func(processAncestryCacheStatsRow)) error {
	s := ancestry.ForEnv(q.Env).Stats()
	row := processAncestryCacheStatsRow{
		Hits: s.Hits, Misses: s.Misses, Size: int64(s.Size), Capacity: int64(s.Capacity), Peak: int64(s.Peak),
		LiveNodes: int64(s.LiveNodes), ExitedNodes: int64(s.ExitedNodes), PinnedNodes: int64(s.PinnedNodes),
		OverTarget: s.OverTarget, Evictions: s.Evictions, EvictedRecovered: s.EvictedRecovered, Expirations: s.Expirations,
		ProcReads: s.ProcReads, ProcFailures: s.ProcFailures, ProcMismatches: s.ProcMismatches,
		Chains: s.Chains, Complete: s.Complete(), Truncated: s.Stops[ancestry.StopDepth],
		CutByEviction: s.Stops[ancestry.StopEvicted], ParentGone: s.Stops[ancestry.StopParentGone],
		UnknownProcess: s.Stops[ancestry.StopUnknownProcess], Ambiguous: s.Stops[ancestry.StopAmbiguous],
		Unreadable: s.Unreadable,
		Execs:      s.Execs, Forks: s.Forks, Exits: s.Exits,
		StartUnknown: s.StartUnknown, StartEstimated: s.StartEstimated, StartCorrected: s.StartCorrected, LateForks: s.LateForks, Reparented: s.Reparented, ImpliedExits: s.ImpliedExits,
		CatchUpFailures: s.CatchUpFailures, Scanned: s.Scanned, ForkSource: s.Source,
		MaxDepth: int64(s.MaxDepth), TTL: int64(s.TTL.Seconds()), Advice: s.Advice(),
	}
	if s.Hits+s.Misses > 0 {
		row.HitRate = float64(s.Hits) / float64(s.Hits+s.Misses)
	}
	emit(row)
	return nil
}
