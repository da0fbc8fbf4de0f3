package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gosquery/gosquery/internal/table"
)

var lastSpec = table.Spec{
	Name:        "last",
	Description: "System logins and logouts.",
	Columns: []table.Column{
		table.Text("username"),
		table.Text("tty"),
		table.Integer("pid"),
		table.Integer("type"),
		table.Text("type_name"),
		table.Integer("time"),
		table.Text("host"),
	},
	Attributes: table.Cacheable,
}

type lastRow struct {
	Username string `col:"username"`
	TTY      string `col:"tty"`
	PID      int64  `col:"pid"`
	Type     int64  `col:"type"`
	TypeName string `col:"type_name"`
	Time     int64  `col:"time"`
	Host     string `col:"host"`
}

// wtmpPath is glibc's _PATH_WTMP.
const wtmpPath = "/var/log/wtmp"

// lastTypeNames names ut_type values as osquery's last table does (which
// differs from logged_in_users: "user-process", not "user").
var lastTypeNames = map[int16]string{
	utmpEmpty:        "empty",
	utmpRunLevel:     "run-level",
	utmpBootTime:     "boot-time",
	utmpNewTime:      "new-time",
	utmpOldTime:      "old-time",
	utmpInitProcess:  "init-process",
	utmpLoginProcess: "login-process",
	utmpUserProcess:  "user-process",
	utmpDeadProcess:  "dead-process",
}

func init() { table.Register(lastSpec, generateLast) }

// generateLast reports the login (USER_PROCESS) and logout (DEAD_PROCESS)
// records of the wtmp file in file order, oldest first, as osquery does;
// boot, run level and other records are left out like in osquery. A
// logout record has an empty username: pairing it with its login is left
// to the query (same tty and pid).
func generateLast(ctx context.Context, q *table.Query, emit func(lastRow)) error {
	err := utmpEach(ctx, acctRoot{dir: q.Env.Root}, wtmpPath, func(r utmpRecord) {
		if r.Type != utmpUserProcess && r.Type != utmpDeadProcess {
			return
		}
		emit(lastRow{
			Username: r.User,
			TTY:      r.Line,
			PID:      int64(r.PID),
			Type:     int64(r.Type),
			TypeName: lastTypeNames[r.Type],
			Time:     int64(r.Sec),
			Host:     r.Host,
		})
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("last: %w", err)
	}
	return nil
}
