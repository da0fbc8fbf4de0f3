package system

import (
	"context"
	"fmt"
	"slices"

	"github.com/gosquery/gosquery/internal/table"
)

var usersSpec = table.Spec{
	Name:        "users",
	Description: "Local user accounts (including domain accounts that have logged on locally (Windows)).",
	Columns: []table.Column{
		table.BigInt("uid").Index(),
		table.BigInt("gid"),
		table.BigInt("uid_signed"),
		table.BigInt("gid_signed"),
		table.Text("username").Additional(),
		table.Text("description"),
		table.Text("directory"),
		table.Text("shell"),
		table.Text("uuid").Index().Collation("nocase"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
		table.Integer("include_remote").Additional().Hidden(),
	},
}

type userRow struct {
	UID              int64  `col:"uid"`
	GID              int64  `col:"gid"`
	UIDSigned        int64  `col:"uid_signed"`
	GIDSigned        int64  `col:"gid_signed"`
	Username         string `col:"username"`
	Description      string `col:"description"`
	Directory        string `col:"directory"`
	Shell            string `col:"shell"`
	UUID             string `col:"uuid"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
	IncludeRemote    int64  `col:"include_remote"`
}

func init() { table.Register(usersSpec, generateUsers) }

// generateUsers lists accounts. By default it parses /etc/passwd directly,
// as osquery does since 5.12 so that a query never reaches LDAP. With
// `include_remote = 1` it enumerates like getpwent(3) through the
// NSS-equivalent sources in nss.go (files, extrausers, systemd userdb, and
// other backends through systemd-userdbd's NSS bridge when it runs).
//
// `username = ?` filters by name, otherwise `uid = ?` by uid; osquery
// applies one or the other, never both, and SQLite re-checks the rest.
// `pid_with_namespace = <pid>` reads the accounts of that process's mount
// namespace (see acctRoot). uuid is empty: Linux accounts have no UUID
// (osquery fills it on macOS and Windows only).
func generateUsers(ctx context.Context, q *table.Query, emit func(userRow)) error {
	remote := slices.Contains(q.EqualsInt("include_remote"), 1)
	names := q.Equals("username")
	uids := q.EqualsInt("uid")
	roots := acctRoots(q)
	for _, root := range roots {
		if ctx.Err() != nil {
			return nil
		}
		var entries []passwdEntry
		if remote {
			entries = nssPasswd(ctx, q.Env.Log, root)
		} else {
			b, err := root.readFile(nssPasswdFile, acctMaxFile)
			if err != nil {
				if len(roots) == 1 && len(b) == 0 {
					return fmt.Errorf("users: %w", err)
				}
				q.Env.Log.Debug("users: reading passwd", "err", err, "pid_with_namespace", root.pid)
			}
			entries = parsePasswd(b)
		}
		for _, e := range entries {
			if len(names) > 0 {
				if !slices.Contains(names, e.Name) {
					continue
				}
			} else if len(uids) > 0 && !slices.Contains(uids, int64(e.UID)) {
				continue
			}
			r := userRow{
				UID:              int64(e.UID),
				GID:              int64(e.GID),
				UIDSigned:        int64(int32(e.UID)),
				GIDSigned:        int64(int32(e.GID)),
				Username:         e.Name,
				Description:      e.Gecos,
				Directory:        e.Dir,
				Shell:            e.Shell,
				PIDWithNamespace: root.pid,
			}
			if remote {
				r.IncludeRemote = 1
			}
			emit(r)
		}
	}
	return nil
}
