package system

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gosquery/gosquery/internal/table"
)

var shellHistorySpec = table.Spec{
	Name:        "shell_history",
	Description: "A line-delimited (command) table of per-user .*_history data.",
	Columns: []table.Column{
		table.BigInt("uid").Additional().Optimized(),
		table.Integer("time"),
		table.Text("command"),
		table.Text("history_file"),
	},
	Attributes: table.UserData | table.NoPkey,
}

type shellHistoryRow struct {
	UID         int64         `col:"uid"`
	Time        table.NullInt `col:"time"`
	Command     string        `col:"command"`
	HistoryFile string        `col:"history_file"`
}

// shellHistoryFiles are the history files osquery reads in each home.
var shellHistoryFiles = []string{
	".bash_history",
	".zsh_history",
	".zhistory",
	".history",
	".sh_history",
}

func init() { table.Register(shellHistorySpec, generateShellHistory) }

// generateShellHistory reads the shell history files of the users named by
// `uid = ?` / `uid IN (...)` (or of the user gosquery runs as; see
// acctUserDataUsers): the files above, then macOS-style per-session files
// ~/.bash_sessions/*.history. One row per line; the time comes from bash's
// "#<epoch>" line before a command (HISTTIMEFORMAT) or from zsh's extended
// format ": <epoch>:<elapsed>;<command>", else it is 0. Files are streamed,
// so a history of any size costs one line of memory.
func generateShellHistory(ctx context.Context, q *table.Query, emit func(shellHistoryRow)) error {
	root := acctRoot{dir: q.Env.Root}
	for _, u := range acctUserDataUsers(ctx, q, root) {
		if !filepath.IsAbs(u.Dir) {
			// A relative home would be read relative to our working directory.
			continue
		}
		var files []string
		for _, f := range shellHistoryFiles {
			files = append(files, filepath.Join(u.Dir, f))
		}
		files = append(files, shellHistorySessions(root, u.Dir)...)
		for _, f := range files {
			if ctx.Err() != nil {
				return nil
			}
			if err := shellHistoryFile(ctx, root, int64(u.UID), f, emit); err != nil && !errors.Is(err, fs.ErrNotExist) {
				q.Env.Log.Debug("shell_history: cannot read", "path", f, "err", err)
			}
		}
	}
	return nil
}

// shellHistorySessions lists ~/.bash_sessions/*.history (macOS Terminal's
// per-session histories) in name order; like a shell glob, * does not
// match a leading dot.
func shellHistorySessions(root acctRoot, home string) []string {
	dir := filepath.Join(home, ".bash_sessions")
	ents, err := root.readDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".history") && !strings.HasPrefix(n, ".") && !e.IsDir() {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

func shellHistoryFile(ctx context.Context, root acctRoot, uid int64, path string, emit func(shellHistoryRow)) error {
	f, err := root.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var p shellHistoryParser
	return acctEachLine(ctx, f, acctMaxLine, func(line []byte) {
		if t, cmd, ok := p.line(line); ok {
			emit(shellHistoryRow{UID: uid, Time: t, Command: cmd, HistoryFile: path})
		}
	})
}

// shellHistoryParser turns history lines into commands. It carries one
// piece of state: a bash timestamp line ("#1700000000") applies to the line
// after it, whatever that line holds.
type shellHistoryParser struct {
	pending    string
	hasPending bool
}

// line parses one line (without its '\n'). ok is false when the line was a
// bash timestamp, which produces no row by itself. Every other line is a
// row, blank ones included, as in osquery. A time that does not fit an
// integer is NULL (osquery's conversion fails the same way).
func (p *shellHistoryParser) line(line []byte) (t table.NullInt, cmd string, ok bool) {
	if !p.hasPending {
		if ts, isTS := shellHistoryBashTime(line); isTS {
			p.pending, p.hasPending = ts, true
			return t, "", false
		}
	}
	if p.hasPending {
		t = shellHistoryTime(p.pending)
		p.pending, p.hasPending = "", false
		return t, string(line), true
	}
	if ts, command, isZsh := shellHistoryZsh(line); isZsh {
		return shellHistoryTime(ts), command, true
	}
	return table.Int(0), string(line), true
}

// shellHistoryBashTime matches a whole line of the form #<digits>.
func shellHistoryBashTime(line []byte) (string, bool) {
	if len(line) < 2 || line[0] != '#' {
		return "", false
	}
	for _, c := range line[1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return string(line[1:]), true
}

// shellHistoryZsh matches zsh's EXTENDED_HISTORY line
// ": <begin>:<elapsed>;<command>", with osquery's limits: at most 10 spaces
// after the colon and 1 to 11 digits of begin time. The command may not
// contain a carriage return (osquery's regular expression stops there and
// the line then counts as a plain command).
func shellHistoryZsh(line []byte) (ts, cmd string, ok bool) {
	if len(line) == 0 || line[0] != ':' {
		return "", "", false
	}
	i := 1
	for i < len(line) && line[i] == ' ' && i <= 10 {
		i++
	}
	start := i
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == start || i-start > 11 || i >= len(line) || line[i] != ':' {
		return "", "", false
	}
	ts = string(line[start:i])
	i++
	elapsed := i
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == elapsed || i >= len(line) || line[i] != ';' {
		return "", "", false
	}
	rest := line[i+1:]
	if slices.Contains(rest, '\r') {
		return "", "", false
	}
	return ts, string(rest), true
}

func shellHistoryTime(digits string) table.NullInt {
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return table.NullInt{}
	}
	return table.Int(n)
}
