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
	Description: "Counters of the process ancestry node cache.",
	Columns: []table.Column{
		table.BigInt("cache_hits"),
		table.BigInt("cache_misses"),
		table.BigInt("cache_size"),
		table.BigInt("cache_capacity"),
		table.Double("hit_rate"),
		table.BigInt("live_nodes"),
		table.BigInt("exited_nodes"),
		table.BigInt("evictions"),
		table.BigInt("expirations"),
		table.BigInt("proc_reads"),
		table.BigInt("proc_read_failures"),
		table.BigInt("chains_built"),
		table.BigInt("chains_complete"),
		table.BigInt("chains_truncated"),
		table.BigInt("exec_events"),
		table.BigInt("fork_events"),
		table.BigInt("exit_events"),
		table.BigInt("scanned_processes"),
		table.BigInt("catch_ups"),
		table.Integer("max_depth"),
		table.BigInt("ttl"),
	},
}

type processAncestryCacheStatsRow struct {
	Hits         uint64  `col:"cache_hits"`
	Misses       uint64  `col:"cache_misses"`
	Size         int64   `col:"cache_size"`
	Capacity     int64   `col:"cache_capacity"`
	HitRate      float64 `col:"hit_rate"`
	LiveNodes    int64   `col:"live_nodes"`
	ExitedNodes  int64   `col:"exited_nodes"`
	Evictions    uint64  `col:"evictions"`
	Expirations  uint64  `col:"expirations"`
	ProcReads    uint64  `col:"proc_reads"`
	ProcFailures uint64  `col:"proc_read_failures"`
	Chains       uint64  `col:"chains_built"`
	Complete     uint64  `col:"chains_complete"`
	Truncated    uint64  `col:"chains_truncated"`
	Execs        uint64  `col:"exec_events"`
	Forks        uint64  `col:"fork_events"`
	Exits        uint64  `col:"exit_events"`
	Scanned      uint64  `col:"scanned_processes"`
	CatchUps     uint64  `col:"catch_ups"`
	MaxDepth     int64   `col:"max_depth"`
	TTL          int64   `col:"ttl"`
}

func init() { table.Register(processAncestryCacheStatsSpec, generateProcessAncestryCacheStats) }

func generateProcessAncestryCacheStats(ctx context.Context, q *table.Query, emit func(processAncestryCacheStatsRow)) error {
	s := ancestry.ForEnv(q.Env).Stats()
	row := processAncestryCacheStatsRow{
		Hits: s.Hits, Misses: s.Misses, Size: int64(s.Size), Capacity: int64(s.Capacity),
		LiveNodes: int64(s.LiveNodes), ExitedNodes: int64(s.ExitedNodes),
		Evictions: s.Evictions, Expirations: s.Expirations,
		ProcReads: s.ProcReads, ProcFailures: s.ProcFailures,
		Chains: s.Chains, Complete: s.Complete, Truncated: s.Truncated,
		Execs: s.Execs, Forks: s.Forks, Exits: s.Exits, Scanned: s.Scanned, CatchUps: s.CatchUps,
		MaxDepth: int64(s.MaxDepth), TTL: int64(s.TTL.Seconds()),
	}
	if s.Hits+s.Misses > 0 {
		row.HitRate = float64(s.Hits) / float64(s.Hits+s.Misses)
	}
	emit(row)
	return nil
}
