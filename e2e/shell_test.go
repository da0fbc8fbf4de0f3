// Package e2e drives the built binaries as a user does: osqueryi one-shot
// and piped, its exit codes and output formats, flags and flagfiles.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gosquery-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if err := testenv.RestorePidMax(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/osqueryi", "../cmd/osqueryd", "./truthproc")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin string, stdin string, args ...string) result {
	t.Helper()
	return runEnv(t, nil, bin, stdin, args...)
}

// runEnv is run with extra environment variables ("NAME=value").
func runEnv(t *testing.T, env []string, bin string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func TestOneShotQueryPrettyAndJSON(t *testing.T) {
	r := run(t, "osqueryi", "", "select pid, name from processes where pid = 1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "| pid | name") || !strings.HasPrefix(lines[3], "| 1   |") {
		t.Fatalf("pretty output:\n%s", r.stdout)
	}
	comm, _ := os.ReadFile("/proc/1/comm")
	r = run(t, "osqueryi", "", "--json", "select pid, name from processes where pid = 1")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(rows) != 1 || rows[0]["pid"] != "1" || rows[0]["name"] != strings.TrimSpace(string(comm)) {
		t.Fatalf("rows %v", rows)
	}
}

func TestStdinStatements(t *testing.T) {
	r := run(t, "osqueryi", "select 1 as one;\n.mode line\nselect 2\n as two;\n", "--list")
	if r.code != 0 || r.stdout != "one\n1\n  two = 2\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, "osqueryi", "select 1;\nselect * from nosuch;\n", "--list")
	if r.code != 1 || r.stderr != "Error: near line 2: no such table: nosuch\n" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	r := run(t, "osqueryi", "", "select * from nosuch")
	if r.code != 1 || r.stderr != "Error: no such table: nosuch\n" {
		t.Fatalf("unknown table: exit %d %q", r.code, r.stderr)
	}
	r = run(t, "osqueryi", "", "select * from file")
	if r.code != 19 || !strings.Contains(r.stderr, "Table file was queried without a required column in the WHERE clause") ||
		!strings.HasSuffix(r.stderr, "Error: constraint failed\n") {
		t.Fatalf("required column: exit %d %q", r.code, r.stderr)
	}
	r = run(t, "osqueryi", "", "--no_such_flag")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown command line flag 'no_such_flag'") {
		t.Fatalf("unknown flag: exit %d %q", r.code, r.stderr)
	}
	r = run(t, "osqueryi", "", "select regex_match('a', '(', 0)")
	if r.code == 0 || !strings.HasPrefix(r.stderr, "Error: ") {
		t.Fatalf("bad regex: exit %d %q", r.code, r.stderr)
	}
	r = run(t, "osqueryi", ".exit 7\n")
	if r.code != 7 {
		t.Fatalf(".exit 7 gave %d", r.code)
	}
}

func TestPersonalities(t *testing.T) {
	// osqueryd -S is the shell.
	r := run(t, "osqueryd", "", "-S", "--line", "select 42 as answer")
	if r.code != 0 || r.stdout != "answer = 42\n" {
		t.Fatalf("osqueryd -S: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// Any binary name without "osqueryd" is the shell.
	link := filepath.Join(t.TempDir(), "myshell")
	if err := os.Symlink(filepath.Join(binDir, "osqueryd"), link); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(link, "--csv", "--separator=,", "select 'a,b' as x").Output()
	if err != nil || string(out) != "x\n\"a,b\"\n" {
		t.Fatalf("renamed binary: %v %q", err, out)
	}
	r = run(t, "osqueryi", "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "osqueryi version 5.") {
		t.Fatalf("--version %q", r.stdout)
	}
}

func TestFlagfileAndRepeatedFlags(t *testing.T) {
	ff := filepath.Join(t.TempDir(), "flags")
	os.WriteFile(ff, []byte("# comment\n--nullvalue=NIL\n--header=false\n"), 0o644)
	r := run(t, "osqueryi", "", "--flagfile", ff, "--list", "select null as x")
	if r.code != 0 || r.stdout != "NIL\n" {
		t.Fatalf("flagfile: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// The last of a repeated flag wins.
	r = run(t, "osqueryi", "", "--separator=;", "--separator=#", "--list", "select 1 as a, 2 as b")
	if r.stdout != "a#b\n1#2\n" {
		t.Fatalf("repeated flag %q", r.stdout)
	}
	r = run(t, "osqueryi", "", "--nullvalue=zz", "--json", "select value from osquery_flags where name = 'nullvalue'")
	if !strings.Contains(r.stdout, `"value":"zz"`) {
		t.Fatalf("osquery_flags does not show the flag: %q", r.stdout)
	}
}

func TestSchemaAndTables(t *testing.T) {
	r := run(t, "osqueryi", "", ".schema processes")
	if !strings.HasPrefix(r.stdout, "CREATE TABLE processes(`pid` BIGINT, `name` TEXT") || !strings.HasSuffix(r.stdout, "PRIMARY KEY (`pid`)) WITHOUT ROWID;\n") {
		t.Fatalf(".schema %q", r.stdout)
	}
	r = run(t, "osqueryi", "", "--L")
	if !strings.Contains(r.stdout, "  => processes\n") || !strings.Contains(r.stdout, "  => osquery_info\n") {
		t.Fatalf("--L %q", r.stdout)
	}
	r = run(t, "osqueryi", "", "--A", "osquery_info", "--json")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("--A: %v %q", err, r.stdout)
	}
	if pid, _ := strconv.Atoi(rows[0]["pid"]); pid <= 0 {
		t.Fatalf("osquery_info.pid %q", rows[0]["pid"])
	}
}

func TestRefusesWritesAndAttach(t *testing.T) {
	for _, sql := range []string{
		"attach database '/tmp/gosquery-e2e.db' as x",
		"pragma writable_schema=1",
	} {
		r := run(t, "osqueryi", "", sql)
		if r.code == 0 || !strings.Contains(r.stderr, "not authorized") {
			t.Errorf("%s: exit %d %q", sql, r.code, r.stderr)
		}
	}
	if _, err := os.Stat("/tmp/gosquery-e2e.db"); err == nil {
		t.Error("ATTACH created a file")
	}
	r := run(t, "osqueryi", "", "insert into processes (pid) values (1)")
	if r.code == 0 || !strings.Contains(r.stderr, "may not be modified") {
		t.Errorf("insert: %d %q", r.code, r.stderr)
	}
}
