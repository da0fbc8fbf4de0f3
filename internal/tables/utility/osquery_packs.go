package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/schedule"
	"github.com/gosquery/gosquery/internal/table"
)

var osqueryPacksSpec = table.Spec{
	Name:        "osquery_packs",
	Description: "Information about the current query packs that are loaded in osquery.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("platform"),
		table.Text("version"),
		table.Integer("shard"),
		table.Integer("discovery_cache_hits"),
		table.Integer("discovery_executions"),
		table.Integer("active"),
	},
	Attributes: table.Utility,
}

type osqueryPacksRow struct {
	Name                string `col:"name"`
	Platform            string `col:"platform"`
	Version             string `col:"version"`
	Shard               int64  `col:"shard"`
	DiscoveryCacheHits  uint64 `col:"discovery_cache_hits"`
	DiscoveryExecutions uint64 `col:"discovery_executions"`
	Active              bool   `col:"active"`
}

func init() { table.Register(osqueryPacksSpec, generateOsqueryPacks) }

// generateOsqueryPacks lists the loaded packs; active reflects platform,
// version, shard and the last discovery result.
func generateOsqueryPacks(ctx context.Context, q *table.Query, emit func(osqueryPacksRow)) error {
	s := schedule.FromEnv(q.Env)
	if s == nil {
		return nil
	}
	for _, p := range s.Packs() {
		hits, execs := p.DiscoveryStats()
		emit(osqueryPacksRow{Name: p.Name, Platform: p.Platform, Version: p.Version, Shard: int64(p.Shard),
			DiscoveryCacheHits: hits, DiscoveryExecutions: execs, Active: p.Active()})
	}
	return nil
}
