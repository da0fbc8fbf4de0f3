package system

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/gosquery/gosquery/internal/table"
)

var crontabSpec = table.Spec{
	Name:        "crontab",
	Description: "Line parsed values from system and user cron/tab.",
	Columns: []table.Column{
		table.Text("event"),
		table.Text("minute"),
		table.Text("hour"),
		table.Text("day_of_month"),
		table.Text("month"),
		table.Text("day_of_week"),
		table.Text("command"),
		table.Text("path"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
	},
	Attributes: table.Cacheable,
}

type crontabRow struct {
	Event            string `col:"event"`
	Minute           string `col:"minute"`
	Hour             string `col:"hour"`
	DayOfMonth       string `col:"day_of_month"`
	Month            string `col:"month"`
	DayOfWeek        string `col:"day_of_week"`
	Command          string `col:"command"`
	Path             string `col:"path"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
}

// crontabSystem is the system crontab; crontabDirs hold more crontabs, one
// per file: system ones (cron.d), per-user spools (Debian's crontabs/,
// Red Hat's cron/) and the BSD/macOS at tabs, as osquery lists them.
const crontabSystem = "/etc/crontab"

var crontabDirs = []string{
	"/etc/cron.d",
	"/var/at/tabs",
	"/var/spool/cron",
	"/var/spool/cron/crontabs",
}

// crontabMax caps one crontab file.
const crontabMax = 16 << 20

// crontabEntry is one parsed crontab line.
type crontabEntry struct {
	Event, Minute, Hour, DayOfMonth, Month, DayOfWeek, Command string
}

func init() { table.Register(crontabSpec, generateCrontab) }

// generateCrontab parses /etc/crontab and every regular file directly in
// the cron directories (not recursively; names sorted), one row per job
// line. Lines are split as osquery splits them: on runs of spaces and tabs,
// the five time fields first, or a single @event (@reboot, @daily, ...)
// instead, and everything after joined with single spaces as the command.
// In /etc/crontab and /etc/cron.d the command therefore starts with the
// user name field, as in osquery. Variable assignments (SHELL=/bin/sh)
// have no command and are skipped.
func generateCrontab(ctx context.Context, q *table.Query, emit func(crontabRow)) error {
	for _, root := range acctRoots(q) {
		files := []string{crontabSystem}
		for _, dir := range crontabDirs {
			files = append(files, crontabList(root, dir)...)
		}
		for _, file := range files {
			if ctx.Err() != nil {
				return nil
			}
			b, err := root.readFile(file, crontabMax)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					q.Env.Log.Debug("crontab: cannot read", "path", file, "err", err)
				}
				if len(b) == 0 {
					continue
				}
			}
			acctLines(b, func(line []byte) {
				e, ok := parseCrontabLine(string(line))
				if !ok {
					return
				}
				emit(crontabRow{
					Event:            e.Event,
					Minute:           e.Minute,
					Hour:             e.Hour,
					DayOfMonth:       e.DayOfMonth,
					Month:            e.Month,
					DayOfWeek:        e.DayOfWeek,
					Command:          e.Command,
					Path:             file,
					PIDWithNamespace: root.pid,
				})
			})
		}
	}
	return nil
}

// crontabList returns the entries of dir that are not directories, in
// name order. Symlinks are kept: reading only accepts what they resolve to
// when it is a regular file.
func crontabList(root acctRoot, dir string) []string {
	ents, err := root.readDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	return out
}

// parseCrontabLine parses one crontab line; ok is false for blank lines,
// comments and lines without a command.
func parseCrontabLine(line string) (crontabEntry, bool) {
	line = strings.Trim(line, " \t\n\v\f\r")
	if line == "" || line[0] == '#' {
		return crontabEntry{}, false
	}
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return crontabEntry{}, false
	}
	var e crontabEntry
	n := 0
	if strings.HasPrefix(fields[0], "@") {
		e.Event = fields[0]
		n = 1
	} else {
		time := []*string{&e.Minute, &e.Hour, &e.DayOfMonth, &e.Month, &e.DayOfWeek}
		for n < len(time) && n < len(fields) {
			*time[n] = fields[n]
			n++
		}
	}
	e.Command = strings.Join(fields[n:], " ")
	if e.Command == "" {
		return crontabEntry{}, false
	}
	return e, true
}
