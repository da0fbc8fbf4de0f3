package system

import (
	"context"
	"slices"

	"github.com/gosquery/gosquery/internal/table"
)

var userGroupsSpec = table.Spec{
	Name:        "user_groups",
	Description: "Local system user group relationships.",
	Columns: []table.Column{
		table.BigInt("uid").Index().Optimized(),
		table.BigInt("gid").Index(),
	},
}

type userGroupRow struct {
	UID int64 `col:"uid"`
	GID int64 `col:"gid"`
}

func init() { table.Register(userGroupsSpec, generateUserGroups) }

// generateUserGroups emits one row per (user, group) the user belongs to,
// as osquery does with getgrouplist(3): first the primary gid from the
// passwd entry, then every group that lists the user as a member, in group
// database order, each gid once. Users and groups come from the
// NSS-equivalent enumeration (nss.go), like osquery's getpwent/getpwuid.
// Without a uid constraint each uid is reported once, for its first
// account, as osquery de-duplicates by uid; `uid = ?` / `uid IN (...)`
// picks the first account with each uid, as getpwuid(3) does. The gid
// constraint is left to SQLite: membership has to be computed per user
// anyway.
func generateUserGroups(ctx context.Context, q *table.Query, emit func(userGroupRow)) error {
	root := acctRoot{dir: q.Env.Root}
	users := nssPasswd(ctx, q.Env.Log, root)
	if len(users) == 0 {
		return nil
	}
	memberOf := userGroupsMemberships(nssGroups(ctx, q.Env.Log, root))
	uids := q.EqualsInt("uid")
	seen := map[uint32]bool{}
	for _, u := range users {
		if ctx.Err() != nil {
			return nil
		}
		if seen[u.UID] {
			continue
		}
		seen[u.UID] = true
		if len(uids) > 0 && !slices.Contains(uids, int64(u.UID)) {
			continue
		}
		for _, gid := range userGroupsFor(u, memberOf[u.Name]) {
			emit(userGroupRow{UID: int64(u.UID), GID: int64(gid)})
		}
	}
	return nil
}

// userGroupsMemberships maps each member name to the gids of the groups
// listing it, in group database order.
func userGroupsMemberships(groups []groupEntry) map[string][]uint32 {
	m := map[string][]uint32{}
	for _, g := range groups {
		for _, name := range g.Members {
			m[name] = append(m[name], g.GID)
		}
	}
	return m
}

// userGroupsFor is getgrouplist(3): the primary gid, then the gids of the
// groups listing the user, each once.
func userGroupsFor(u passwdEntry, member []uint32) []uint32 {
	out := []uint32{u.GID}
	if len(member) == 0 {
		return out
	}
	seen := map[uint32]bool{u.GID: true}
	for _, gid := range member {
		if !seen[gid] {
			seen[gid] = true
			out = append(out, gid)
		}
	}
	return out
}
