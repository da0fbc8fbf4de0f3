package forensic

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/table"
)

var carvesSpec = table.Spec{
	Name:        "carves",
	Description: "List the set of completed and in-progress carves. If carve=1 then the query is treated as a new carve request.",
	Columns: []table.Column{
		table.BigInt("time"),
		table.Text("sha256").Collation("nocase"),
		table.BigInt("size"),
		table.Text("path").Additional(),
		table.Text("status"),
		table.Text("carve_guid").Index().Collation("nocase"),
		table.Text("request_id"),
		table.Integer("carve").Additional(),
	},
}

type carveRow struct {
	Time      int64  `col:"time"`
	SHA256    string `col:"sha256"`
	Size      int64  `col:"size"`
	Path      string `col:"path"`
	Status    string `col:"status"`
	GUID      string `col:"carve_guid"`
	RequestID string `col:"request_id"`
	Carve     int64  `col:"carve"`
}

func init() { table.Register(carvesSpec, generateCarves) }

// errNoCarver is a carve request in a process that runs no carver
// (osqueryi, or a daemon without the TLS remote API).
var errNoCarver = errors.New("carve requested but this process runs no carver (osqueryd with --disable_carver=false)")

// generateCarves lists every carve record. With carve = 1 and paths named
// by `path =` or `path LIKE` (expanded as osquery's glob does), it first
// schedules a carve of those paths, and only the row of that new carve
// has carve = 1, so `WHERE path LIKE '/x/%' AND carve = 1` returns it.
// A request while the carver is disabled is an error, not an empty answer.
func generateCarves(ctx context.Context, q *table.Query, emit func(carveRow)) error {
	c := carver.FromEnv(q.Env)
	var scheduled carver.Record
	if slices.Contains(q.EqualsInt("carve"), 1) {
		paths, err := requestedPaths(ctx, q)
		if err != nil {
			return err
		}
		if len(paths) > 0 {
			if c == nil {
				if q.Env.Flags != nil && q.Env.Flags.Bool("disable_carver") {
					return carver.ErrDisabled
				}
				return errNoCarver
			}
			rec, err := c.Schedule(ctx, paths)
			if err != nil {
				return err
			}
			scheduled = rec
		}
	}
	if c == nil {
		return nil
	}
	return c.List(ctx, func(r carver.Record) bool {
		carve := int64(0)
		if scheduled.GUID != "" && r.GUID == scheduled.GUID {
			// Run may have taken the new carve up already; its row is
			// shown as the request left it, as osquery (which starts
			// carves a minute later) always shows it.
			r, carve = scheduled, 1
		}
		emit(carveRow{Time: r.Time, SHA256: r.SHA256, Size: r.Size, Path: r.Path,
			Status: r.Status, GUID: r.GUID, RequestID: r.RequestID, Carve: carve})
		return ctx.Err() == nil
	})
}

// requestedPaths are the paths of `path =` and the expansions of
// `path LIKE`.
func requestedPaths(ctx context.Context, q *table.Query) ([]string, error) {
	paths := slices.Clone(q.Equals("path"))
	for _, pattern := range q.Values("path", table.OpLike) {
		carver.ExpandLike(ctx, pattern, func(p string) bool {
			paths = append(paths, p)
			return len(paths) <= carver.MaxPaths
		})
	}
	if len(paths) > carver.MaxPaths {
		return nil, fmt.Errorf("carves: the path constraints name more than %d paths", carver.MaxPaths)
	}
	return paths, ctx.Err()
}
