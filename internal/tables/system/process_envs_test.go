package system

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// processEnvsFixtureEnv points the table at testdata/process_envs/proc:
//
//	100  environ captured from `env -i ... cat /proc/self/environ`
//	101  hostile: no '=', leading '=', empty entries, '=' in the value,
//	     non-UTF-8 bytes, a newline, a space in the key, no final NUL
//	102  empty environ (a kernel thread)
//	103  no environ file (an exited or unreadable process)
func processEnvsFixtureEnv(t *testing.T) *table.Env {
	t.Helper()
	env := tabletest.HostEnv(t)
	env.ProcRoot = filepath.Join("testdata", "process_envs", "proc")
	return env
}

type processEnvPair struct{ pid, key, value string }

func processEnvRows(rows []map[string]string) []processEnvPair {
	out := make([]processEnvPair, 0, len(rows))
	for _, r := range rows {
		out = append(out, processEnvPair{r["pid"], r["key"], r["value"]})
	}
	return out
}

func TestProcessEnvsFixture(t *testing.T) {
	env := processEnvsFixtureEnv(t)
	rows := processEnvRows(tabletest.Query(t, env, "select * from process_envs where pid = 101"))
	want := []processEnvPair{
		{"101", "A", "1"},
		{"101", "NOEQUALS", ""},
		{"101", "", "leadingeq"},
		{"101", "B", "x=y"},
		{"101", "BIN", "\xff\xfe"},
		{"101", "C", "multi\nline"},
		{"101", "SPACE KEY", "v (x)"},
		{"101", "TRAIL", "no-nul"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("pid 101:\n got %q\nwant %q", rows, want)
	}

	rows = processEnvRows(tabletest.Query(t, env, "select * from process_envs where pid = 100"))
	want = []processEnvPair{
		{"100", "HOME", "/root"},
		{"100", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		{"100", "LANG", "C.UTF-8"},
		{"100", "TERM", "xterm"},
		{"100", "SHELL", "/bin/bash"},
		{"100", "PWD", "/"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("pid 100:\n got %q\nwant %q", rows, want)
	}

	// Without a pid constraint every process is read; 102 and 103 have
	// nothing to report.
	all := tabletest.Query(t, env, "select pid, count(*) as n from process_envs group by pid order by pid")
	if len(all) != 2 || all[0]["pid"] != "100" || all[0]["n"] != "6" || all[1]["pid"] != "101" || all[1]["n"] != "8" {
		t.Errorf("all pids: %v", all)
	}
	// Only the pids named are read; missing ones are skipped.
	// (Not `select distinct pid`: the declared primary key on pid, as in
	// osquery, lets SQLite skip DISTINCT.)
	in := tabletest.Query(t, env, "select pid from process_envs where pid in (100, 102, 103, 99999)")
	if len(in) != 6 || slices.ContainsFunc(in, func(r map[string]string) bool { return r["pid"] != "100" }) {
		t.Errorf("pid in: %v", in)
	}
	if rows := tabletest.Query(t, env, "select * from process_envs where pid = -1"); len(rows) != 0 {
		t.Errorf("pid -1: %v", rows)
	}
	if rows := tabletest.Query(t, env, "select value from process_envs where pid = 101 and key = 'B'"); len(rows) != 1 || rows[0]["value"] != "x=y" {
		t.Errorf("key filter: %v", rows)
	}
}

// A huge environ is cut at procfs.DefaultMaxRead; what was read is still
// reported.
func TestProcessEnvsHuge(t *testing.T) {
	proc := t.TempDir()
	if err := os.Mkdir(filepath.Join(proc, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("FIRST=1\x00")
	b.WriteString("BIG=" + strings.Repeat("x", procfs.DefaultMaxRead) + "\x00")
	b.WriteString("LAST=never read\x00")
	if err := os.WriteFile(filepath.Join(proc, "7", "environ"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = proc
	rows := tabletest.Query(t, env, "select key, length(value) as n from process_envs where pid = 7")
	if len(rows) != 2 || rows[0]["key"] != "FIRST" || rows[1]["key"] != "BIG" {
		t.Fatalf("rows %v", rows)
	}
	if n, _ := strconv.Atoi(rows[1]["n"]); n >= procfs.DefaultMaxRead {
		t.Errorf("BIG has %d bytes, read cap is %d", n, procfs.DefaultMaxRead)
	}
}

// TestProcessEnvsLive starts a child with a known environment and reads it
// back from the live /proc.
func TestProcessEnvsLive(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary:", err)
	}
	childEnv := []string{
		"GOSQUERY_PROCESS_ENVS_TEST=marker",
		"EMPTY=",
		"WEIRD=a=b\nc d",
		"BIN=\xff\x01",
		"PATH=/usr/bin:/bin",
	}
	cmd := exec.Command(sleep, "60")
	cmd.Env = childEnv
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := strconv.Itoa(cmd.Process.Pid)
	// The child's environ is there once it has exec'ed sleep.
	var rows []map[string]string
	env := tabletest.HostEnv(t)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rows = tabletest.Query(t, env, "select pid, key, value from process_envs where pid = "+pid)
		if len(rows) == len(childEnv) {
			break
		}
	}
	var want []processEnvPair
	for _, kv := range childEnv {
		k, v, _ := strings.Cut(kv, "=")
		want = append(want, processEnvPair{pid, k, v})
	}
	if got := processEnvRows(rows); !slices.Equal(got, want) {
		t.Errorf("child %s:\n got %q\nwant %q", pid, got, want)
	}

	// The unconstrained scan finds it too, and only the child has the marker
	// with this value.
	rows = tabletest.Query(t, env, "select pid from process_envs where key = 'GOSQUERY_PROCESS_ENVS_TEST' and value = 'marker'")
	if len(rows) != 1 || rows[0]["pid"] != pid {
		t.Errorf("scan: %v, want pid %s", rows, pid)
	}

	// Our own environment, compared with what the kernel reports for us.
	self := strconv.Itoa(os.Getpid())
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	rows = tabletest.Query(t, env, "select key, value from process_envs where pid = "+self)
	if n := len(procfs.ParseEnviron(raw)); len(rows) != n {
		t.Errorf("own environ: %d rows, /proc says %d entries", len(rows), n)
	}
}

func FuzzProcessEnvsParseEnviron(f *testing.F) {
	for _, p := range []string{"100", "101", "102"} {
		b, err := os.ReadFile(filepath.Join("testdata", "process_envs", "proc", p, "environ"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("=\x00=\x00\x00=="))
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs := procfs.ParseEnviron(b)
		if len(pairs) > bytes.Count(b, []byte{0})+1 {
			t.Fatalf("%d pairs from %d entries", len(pairs), bytes.Count(b, []byte{0})+1)
		}
		for _, kv := range pairs {
			if strings.ContainsRune(kv[0], 0) || strings.ContainsRune(kv[1], 0) || strings.Contains(kv[0], "=") {
				t.Fatalf("bad pair %q", kv)
			}
		}
	})
}
