package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gosquery/gosquery/internal/table"
)

var loggedInUsersSpec = table.Spec{
	Name:        "logged_in_users",
	Description: "Users with an active shell on the system.",
	Columns: []table.Column{
		table.Text("type"),
		table.Text("user"),
		table.Text("tty"),
		table.Text("host"),
		table.BigInt("time"),
		table.Integer("pid"),
	},
	Attributes: table.Cacheable,
}

type loggedInUserRow struct {
	Type string `col:"type"`
	User string `col:"user"`
	TTY  string `col:"tty"`
	Host string `col:"host"`
	Time int64  `col:"time"`
	PID  int64  `col:"pid"`
}

// utmpPath is glibc's _PATH_UTMP, which getutxent(3) reads.
const utmpPath = "/var/run/utmp"

// loggedInUsersTypes names ut_type values as osquery's logged_in_users
// does; other values are "unknown".
var loggedInUsersTypes = map[int16]string{
	utmpEmpty:        "empty",
	utmpRunLevel:     "runlevel",
	utmpBootTime:     "boot_time",
	utmpNewTime:      "new_time",
	utmpOldTime:      "old_time",
	utmpInitProcess:  "init",
	utmpLoginProcess: "login",
	utmpUserProcess:  "user",
	utmpDeadProcess:  "dead",
	utmpAccounting:   "accounting",
}

func init() { table.Register(loggedInUsersSpec, generateLoggedInUsers) }

// generateLoggedInUsers reports every record of the utmp file, as osquery
// does with getutxent(3): not only user sessions but also boot, run level,
// login and dead records, typed by name. Records of pid 1 (init's own
// entries) are skipped, as in osquery. A host without a utmp file (systemd
// builds without utmp support, containers) has no rows.
func generateLoggedInUsers(ctx context.Context, q *table.Query, emit func(loggedInUserRow)) error {
	err := utmpEach(ctx, acctRoot{dir: q.Env.Root}, utmpPath, func(r utmpRecord) {
		if r.PID == 1 {
			return
		}
		typ, ok := loggedInUsersTypes[r.Type]
		if !ok {
			typ = "unknown"
		}
		emit(loggedInUserRow{
			Type: typ,
			User: r.User,
			TTY:  r.Line,
			Host: r.Host,
			Time: int64(r.Sec),
			PID:  int64(r.PID),
		})
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logged_in_users: %w", err)
	}
	return nil
}
