package sqlengine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParentDirectory(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		{"parent_directory('/usr/bin/ls')", "/usr/bin"},
		{"parent_directory('/usr/bin/')", "/usr/bin"},
		{"parent_directory('/ls')", ""},
		{"parent_directory('/')", ""},
		{"parent_directory('ls')", fnNull},
		{"parent_directory('')", fnNull},
		{"parent_directory('a//b')", "a/"},
		{"parent_directory('dir with space/f')", "dir with space"},
		{"parent_directory(cast(x'2f61ff2f62' as text)) = cast(x'2f61ff' as text)", 1},
		{"parent_directory(NULL)", fnErr("Invalid inputs to parent_directory, TEXT was expected")},
		{"parent_directory(1)", fnErr("Invalid inputs to parent_directory, TEXT was expected")},
	})
}

// fnCmdTree makes files whose names contain spaces, the case the
// command-line helpers exist for.
func fnCmdTree(t *testing.T) string {
	dir := t.TempDir()
	for _, p := range []string{"prog", "my prog", "my prog x", "a b/c", "quo\"te"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "prog"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindFilePathInCmd(t *testing.T) {
	db, _ := fnTestDB(t)
	d := fnCmdTree(t)
	q := func(args ...string) string {
		return "find_file_path_in_cmd(" + strings.Join(args, ", ") + ")"
	}
	fnCheck(t, db, []fnCase{
		{q(fnQuote(d + "/prog --flag x")), d + "/prog"},
		{q(fnQuote("  \t" + d + "/prog")), d + "/prog"},
		// Unquoted spaces in the program path: the shortest existing prefix.
		{q(fnQuote(d + "/my prog --x")), d + "/my prog"},
		{q(fnQuote(d + "/my prog x y")), d + "/my prog"},
		{q(fnQuote(d + "/a b/c arg")), d + "/a b/c"},
		// Directories and missing files are no candidates.
		{q(fnQuote(d + "/adir arg")), ""},
		{q(fnQuote(d + "/missing arg")), ""},
		{q(fnQuote("")), ""},
		// Symlinks are followed.
		{q(fnQuote(d + "/link arg")), d + "/link"},
		// Escapes keep a space inside the path.
		{q(fnQuote(d + `/my\ prog\ x arg`)), d + "/my prog x"},
		// Quoting, when allowed: quotes are dropped and protect spaces.
		{q(fnQuote(`"`+d+`/my prog x" arg`), "1"), d + "/my prog x"},
		{q(fnQuote(`"`+d+`/my prog x" arg`), "0"), ""},
		{q(fnQuote(d+`/quo^"te arg`), "0", "'^'"), d + `/quo"te`},
		{q(fnQuote(d+"/prog"), "0", "'ab'"), fnErr("Invalid inputs to find_binary_path_from_cmd")},
		{q(fnQuote(d+"/prog"), "0", "''"), fnErr("Invalid inputs to find_binary_path_from_cmd")},
		{q(fnQuote(d+"/prog"), "NULL"), fnErr("Invalid inputs to find_binary_path_from_cmd")},
		{q("NULL"), fnErr("Invalid inputs to find_binary_path_from_cmd")},
		{q(), fnErr("Invalid inputs to find_binary_path_from_cmd")},
	})
}

func TestIsPathDeterministic(t *testing.T) {
	db, _ := fnTestDB(t)
	d := fnCmdTree(t)
	q := func(args ...string) string {
		return "is_path_deterministic(" + strings.Join(args, ", ") + ")"
	}
	fnCheck(t, db, []fnCase{
		// Only one prefix exists.
		{q(fnQuote(d + "/prog --flag")), 1},
		{q(fnQuote(d + "/prog")), 1},
		// Nothing exists: nothing to be ambiguous about.
		{q(fnQuote(d + "/missing arg")), 1},
		// "my prog" and "my prog x" both exist.
		{q(fnQuote(d + "/my prog x")), 0},
		{q(fnQuote(d + "/my prog x y")), 0},
		{q(fnQuote(d + "/my prog y")), 1},
		// Quoting keeps "my prog" whole, but a longer candidate after the
		// quotes still counts.
		{q(fnQuote(`"`+d+`/my prog" y`), "1"), 1},
		{q(fnQuote(`"`+d+`/my prog" x`), "1"), 0},
		{q("NULL"), fnErr("Invalid inputs to is_path_deterministic")},
		{q(), fnErr("Invalid inputs to is_path_deterministic")},
	})
}

// TestCmdPathChecksBounded: a command line of many words stats a bounded
// number of candidates.
func TestCmdPathChecksBounded(t *testing.T) {
	n := 0
	got := programPathFromCmd(strings.Repeat("x ", 100000), '\\', false, false, func(string) bool { n++; return false })
	if got != "" || n > maxCmdPathChecks {
		t.Fatalf("got %q after %d checks", got, n)
	}
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{{q1("find_file_path_in_cmd", strings.Repeat("/x ", 200000)), ""}})
}

func q1(fn, arg string) string { return fmt.Sprintf("%s(%s)", fn, fnQuote(arg)) }

// TestFindFilePathInCmdUsesEnvRoot: the existence checks look under the
// Env's root, so fixtures stand in for the host.
func TestFindFilePathInCmdUsesEnvRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "opt/my app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "opt/my app/run"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	env := fnEnv(&fnLogs{})
	env.Root = root
	db, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fnCheck(t, db, []fnCase{
		{q1("find_file_path_in_cmd", "/opt/my app/run --x"), "/opt/my app/run"},
		{q1("find_file_path_in_cmd", "/bin/sh -c x"), ""},
	})
}
