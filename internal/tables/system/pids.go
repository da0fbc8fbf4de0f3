package system

import (
	"math"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

// queriedPIDs returns the pids a per-process table must read: those named
// by `pid = ?` or `pid IN (...)`, or every process in /proc. Values that
// cannot be pids are dropped (they match no row).
func queriedPIDs(q *table.Query, fs procfs.FS) ([]int64, error) {
	asked := q.EqualsInt("pid")
	if len(asked) > 0 {
		pids := asked[:0]
		for _, p := range asked {
			if p > 0 && p <= math.MaxInt32 {
				pids = append(pids, p)
			}
		}
		return pids, nil
	}
	all, err := fs.PIDs()
	if err != nil {
		return nil, err
	}
	pids := make([]int64, len(all))
	for i, p := range all {
		pids[i] = int64(p)
	}
	return pids, nil
}
