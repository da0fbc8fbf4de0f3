package sqlengine

import (
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// filesystemFunctions are osquery's parent_directory, find_file_path_in_cmd
// and is_path_deterministic (osquery/sql/sqlite_filesystem.cpp).
//
// The two command-line helpers look at the filesystem, so they are not
// marked deterministic or innocuous: their answer changes with the disk and
// they reveal which files exist.
func filesystemFunctions(env *table.Env) []sqlFunction {
	exists := func(p string) bool { return cmdPathExists(env, p) }
	return []sqlFunction{
		{"parent_directory", 1, pure, fnParentDirectory},
		{"find_file_path_in_cmd", -1, 0, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			fnFindFilePathInCmd(ctx, exists, args)
		}},
		{"is_path_deterministic", -1, 0, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			fnIsPathDeterministic(ctx, exists, args)
		}},
	}
}

// fnParentDirectory is parent_directory(path): everything before the last
// '/' ("" for "/x"), or NULL when there is no '/'. As in osquery, a
// non-TEXT argument (NULL included) is an error.
func fnParentDirectory(ctx sqlite3.Context, args ...sqlite3.Value) {
	if args[0].Type() != sqlite3.TEXT {
		ctx.ResultError(sqlError("Invalid inputs to parent_directory, TEXT was expected"))
		return
	}
	path := cString(args[0].Text())
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		ctx.ResultNull()
		return
	}
	ctx.ResultText(path[:i])
}

// cmdArgs reads (command[, allow_quoting[, escape_symbol]]) as osquery's
// findExistingProgramPathFromCommandSqlArgs: no NULLs, the escape symbol
// exactly one byte (default '\').
func cmdArgs(args []sqlite3.Value) (cmd string, quoting bool, escape byte, ok bool) {
	if len(args) == 0 || anyNull(args) {
		return "", false, 0, false
	}
	cmd = cString(args[0].Text())
	if len(args) > 1 {
		quoting = args[1].Int64() != 0
	}
	escape = '\\'
	if len(args) > 2 {
		e := cString(args[2].Text())
		if len(e) != 1 {
			return "", false, 0, false
		}
		escape = e[0]
	}
	return cmd, quoting, escape, true
}

// fnFindFilePathInCmd is find_file_path_in_cmd(cmd[, allow_quoting[,
// escape]]): the shortest leading part of a command line, cut at
// whitespace, that names an existing non-directory file ("" if none). It
// finds the program of a command line whose path holds unquoted spaces.
func fnFindFilePathInCmd(ctx sqlite3.Context, exists func(string) bool, args []sqlite3.Value) {
	cmd, quoting, escape, ok := cmdArgs(args)
	if !ok {
		// osquery's message names the function's old name.
		ctx.ResultError(sqlError("Invalid inputs to find_binary_path_from_cmd"))
		return
	}
	ctx.ResultText(programPathFromCmd(cmd, escape, quoting, true, exists))
}

// fnIsPathDeterministic is is_path_deterministic(cmd[, allow_quoting[,
// escape]]): 1 unless several leading parts of cmd name existing files,
// making it ambiguous which program the command line runs.
func fnIsPathDeterministic(ctx sqlite3.Context, exists func(string) bool, args []sqlite3.Value) {
	cmd, quoting, escape, ok := cmdArgs(args)
	if !ok {
		ctx.ResultError(sqlError("Invalid inputs to is_path_deterministic"))
		return
	}
	shortest := programPathFromCmd(cmd, escape, quoting, true, exists)
	// No candidate exists, or the whole command is the only one.
	if shortest == "" || len(shortest) == len(cmd) {
		ctx.ResultInt64(1)
		return
	}
	longest := programPathFromCmd(cmd, escape, quoting, false, exists)
	ctx.ResultBool(len(shortest) == len(longest))
}

// maxCmdPathChecks bounds the files one call may stat: a command line with
// thousands of spaces must not turn into thousands of system calls.
const maxCmdPathChecks = 256

// programPathFromCmd is osquery's findExistingProgramPathFromCommand:
// after leading whitespace, cmd is read with escapes (the escaped byte is
// kept, the escape dropped) and, if allowed, double quotes (dropped, and
// whitespace inside them does not cut). At each unquoted whitespace the
// text so far is a candidate; the shortest or longest existing one wins,
// and the whole remaining text is the last candidate.
func programPathFromCmd(cmd string, escape byte, quoting, shortest bool, exists func(string) bool) string {
	checks := 0
	check := func(p []byte) bool {
		if len(p) == 0 || len(p) >= pathMax || checks >= maxCmdPathChecks {
			return false
		}
		checks++
		return exists(string(p))
	}
	pos := 0
	for pos < len(cmd) && isCSpace(cmd[pos]) {
		pos++
	}
	var result string
	var cur []byte
	quoted, escaped := false, false
	// Candidates only grow: once one reaches PATH_MAX no later one can
	// exist, and the answer is settled.
	for ; pos < len(cmd) && len(cur) < pathMax; pos++ {
		c := cmd[pos]
		if escaped {
			cur = append(cur, c)
			escaped = false
			continue
		}
		if quoting && c == '"' {
			quoted = !quoted
			continue
		}
		if c == escape {
			escaped = true
			continue
		}
		if !quoted && isCSpace(c) {
			if check(cur) {
				result = string(cur)
				if shortest {
					break
				}
			}
		}
		cur = append(cur, c)
	}
	if result == "" || !shortest {
		if check(cur) {
			result = string(cur)
		}
	}
	return result
}

// pathMax is Linux's PATH_MAX: no longer path can be opened.
const pathMax = 4096

// cmdPathExists reports whether p names something that is not a
// directory, following symlinks, under the Env's root. A relative p is
// relative to the agent's working directory, as in osquery.
func cmdPathExists(env *table.Env, p string) bool {
	if env != nil {
		p = env.Path(p)
	}
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
