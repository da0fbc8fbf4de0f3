package system

import (
	"context"
	"slices"

	"github.com/gosquery/gosquery/internal/table"
)

var groupsSpec = table.Spec{
	Name:        "groups",
	Description: "Local system groups.",
	Columns: []table.Column{
		table.BigInt("gid").Index(),
		table.BigInt("gid_signed"),
		table.Text("groupname"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
	},
}

type groupRow struct {
	GID              int64  `col:"gid"`
	GIDSigned        int64  `col:"gid_signed"`
	Groupname        string `col:"groupname"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
}

func init() { table.Register(groupsSpec, generateGroups) }

// generateGroups lists groups as osquery does with getgrent(3): through
// the group services of nsswitch.conf (see nss.go for the pure-Go
// equivalents), one row per gid, the first group seen winning, as osquery
// de-duplicates by gid. `gid = ?` keeps only those gids (getgrgid(3) also
// returns the first match).
func generateGroups(ctx context.Context, q *table.Query, emit func(groupRow)) error {
	gids := q.EqualsInt("gid")
	for _, root := range acctRoots(q) {
		seen := map[uint32]bool{}
		for _, g := range nssGroups(ctx, q.Env.Log, root) {
			if seen[g.GID] {
				continue
			}
			seen[g.GID] = true
			if len(gids) > 0 && !slices.Contains(gids, int64(g.GID)) {
				continue
			}
			emit(groupRow{
				GID:              int64(g.GID),
				GIDSigned:        int64(int32(g.GID)),
				Groupname:        g.Name,
				PIDWithNamespace: root.pid,
			})
		}
	}
	return nil
}
