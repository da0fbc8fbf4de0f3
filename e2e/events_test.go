package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/audit"
	"github.com/gosquery/gosquery/internal/procconn"
	"github.com/gosquery/gosquery/internal/testenv"
)

// eventShell is an osqueryi collecting process events, fed statements one
// at a time, answering in JSON.
type eventShell struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// claimAudit takes the audit lock (audit is machine-global) and records
// the kernel's audit state, restoring it when the test ends. Both are
// cleanups registered before any the test adds later, so they run last:
// the state is restored and the lock released only after the test's
// daemon or shell has stopped.
func claimAudit(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("process_events needs root: audit netlink control requires CAP_AUDIT_CONTROL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	unlock, err := audit.LockForTests(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	c, err := audit.NewClient()
	if err != nil {
		t.Skipf("audit netlink unavailable: %v", err)
	}
	orig, err := c.GetStatus()
	if err != nil {
		c.Close()
		t.Skipf("AUDIT_GET failed: %v", err)
	}
	// Rules with the daemon's key that were there before (a daemon the
	// machine runs, or one killed without cleaning up): the daemon under
	// test replaces them, so they are put back afterwards.
	var had []audit.Rule
	rules, err := c.ListRules()
	c.Close()
	if err != nil {
		t.Fatalf("list audit rules: %v", err)
	}
	for _, r := range rules {
		if r.Key() == audit.DefaultKey {
			had = append(had, r)
		}
	}
	t.Cleanup(func() {
		if err := audit.RestoreState(orig, func(k string) bool { return k == audit.DefaultKey }); err != nil {
			t.Errorf("restore audit state: %v", err)
		}
		if len(had) == 0 {
			return
		}
		c, err := audit.NewClient()
		if err != nil {
			t.Errorf("restore audit rules: %v", err)
			return
		}
		defer c.Close()
		for _, r := range had {
			if err := c.AddRule(r); err != nil {
				t.Errorf("restore audit rule %v: %v", r, err)
			}
		}
	})
}

// startEventShell claims audit and starts a shell with the audit
// publisher on.
func startEventShell(t *testing.T, extra ...string) *eventShell {
	t.Helper()
	claimAudit(t)
	args := append([]string{"--disable_events=false", "--disable_audit=false", "--audit_allow_config=true", "--json"}, extra...)
	cmd := exec.Command(filepath.Join(binDir, "osqueryi"), args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &eventShell{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shell exit: %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("shell did not exit after stdin closed")
		}
	})
	// Wait until the publisher owns audit and its rules are in.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		rows := s.query("select mode, rules from audit_status")
		if len(rows) == 1 && rows[0]["mode"] == "daemon" && rows[0]["rules"] != "0" {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("audit publisher did not start")
	return nil
}

// query sends one statement and reads its JSON array.
func (s *eventShell) query(sql string) []map[string]string {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, sql+";\n"); err != nil {
		s.t.Fatal(err)
	}
	var buf strings.Builder
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading shell output: %v (so far %q)", err, buf.String())
		}
		buf.WriteString(line)
		if line == "]\n" {
			break
		}
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(buf.String()), &rows); err != nil {
		s.t.Fatalf("bad JSON from shell: %v\n%s", err, buf.String())
	}
	return rows
}

// waitRows polls process_events until the predicate holds.
func (s *eventShell) waitRows(sql string, ok func([]map[string]string) bool) []map[string]string {
	s.t.Helper()
	var rows []map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rows = s.query(sql)
		if ok(rows) {
			return rows
		}
	}
	s.t.Fatalf("timed out; last rows of %s: %v", sql, rows)
	return nil
}

type chainElem struct {
	ExeName     string `json:"exe_name"`
	PID         int64  `json:"pid"`
	PPID        int64  `json:"ppid"`
	PProcTimeHR int64  `json:"pproc_time_hr"`
	Path        string `json:"path"`
	Cmdline     string `json:"cmdline"`
	ProcTime    int64  `json:"proc_time"`
	ProcTimeHR  int64  `json:"proc_time_hr"`
}

// imageOf is the executable the kernel reports for a command run by name:
// the PATH lookup with symlinks resolved (/bin/sh is dash on Debian, bash
// elsewhere; /bin is /usr/bin where /usr is merged).
func imageOf(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		p, err = filepath.EvalSymlinks(p)
	}
	if err != nil {
		t.Fatalf("resolving %s: %v", name, err)
	}
	return p
}

func chainOf(t *testing.T, row map[string]string) []chainElem {
	t.Helper()
	var c []chainElem
	if err := json.Unmarshal([]byte(row["ancestry"]), &c); err != nil {
		t.Fatalf("ancestry is not valid JSON: %v: %s", err, row["ancestry"])
	}
	// Every chain is linked: each element's ppid is the next one's pid and
	// its pproc_time_hr the next one's proc_time_hr, ending at pid 1.
	for i := range c {
		if i+1 < len(c) {
			if c[i].PPID != c[i+1].PID || c[i].PProcTimeHR != c[i+1].ProcTimeHR {
				t.Errorf("chain broken between %d and %d: %+v / %+v", i, i+1, c[i], c[i+1])
			}
		}
		if c[i].ProcTime != c[i].ProcTimeHR/100 {
			t.Errorf("element %d: proc_time %d vs proc_time_hr %d", i, c[i].ProcTime, c[i].ProcTimeHR)
		}
	}
	if len(c) == 0 || c[len(c)-1].PID != 1 {
		t.Errorf("chain does not end at pid 1: %+v", c)
	}
	return c
}

func TestProcessEventsWithAncestry(t *testing.T) {
	s := startEventShell(t)
	marker := fmt.Sprintf("gosq-%d", time.Now().UnixNano())
	self := int64(os.Getpid())

	// A tree of short-lived processes: bash -> sh -> sh -> /bin/true, with
	// trailing ':' so that no shell execs its last command away, and a
	// process whose parent exits before the child runs.
	bash := exec.Command("bash", "-c", fmt.Sprintf(`sh -c 'sh -c "/bin/true %s-deep; :"; :'; :`, marker))
	if err := bash.Run(); err != nil {
		t.Fatal(err)
	}
	sql := fmt.Sprintf("select pid, parent, path, cmdline, cwd, uid, euid, gid, auid, syscall, uptime, ancestry from process_events where cmdline like '%%%s%%'", marker)
	rows := s.waitRows(sql, func(r []map[string]string) bool { return len(r) >= 4 })
	// uptime is the boot clock at the event: within a few seconds of now.
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		now, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
		for _, r := range rows {
			if u, err := strconv.ParseFloat(r["uptime"], 64); err != nil || u > now+1 || u < now-30 {
				t.Errorf("uptime %q with /proc/uptime %.0f", r["uptime"], now)
			}
		}
	}
	byCmd := map[string]map[string]string{}
	for _, r := range rows {
		byCmd[r["cmdline"]] = r
	}
	wd, _ := os.Getwd()
	top := byCmd[fmt.Sprintf(`bash -c sh -c 'sh -c "/bin/true %s-deep; :"; :'; :`, marker)]
	if top == nil {
		t.Fatalf("no row for bash; rows: %v", rows)
	}
	if top["pid"] != strconv.Itoa(bash.Process.Pid) || top["parent"] != strconv.FormatInt(self, 10) ||
		top["path"] != imageOf(t, "bash") || top["cwd"] != wd || top["uid"] != "0" || top["syscall"] != "execve" {
		t.Errorf("bash row %v", top)
	}
	if c := chainOf(t, top); c[0].PID != self {
		t.Errorf("bash's parent should be the test process %d: %+v", self, c[0])
	}
	deep := byCmd["/bin/true "+marker+"-deep"]
	if deep == nil {
		t.Fatalf("no row for the deep /bin/true; rows: %v", rows)
	}
	c := chainOf(t, deep)
	sh := filepath.Base(imageOf(t, "sh"))
	if len(c) < 4 || c[0].ExeName != sh || c[1].ExeName != sh || c[2].ExeName != "bash" ||
		c[2].PID != int64(bash.Process.Pid) || c[3].PID != self || strconv.FormatInt(c[0].PID, 10) != deep["parent"] {
		t.Errorf("deep chain %+v (parent %s)", c, deep["parent"])
	}
	if !strings.HasPrefix(c[0].Cmdline, `sh -c /bin/true `+marker+`-deep`) || !strings.HasPrefix(c[1].Cmdline, `sh -c sh -c "/bin/true`) {
		t.Errorf("deep chain cmdlines %q / %q", c[0].Cmdline, c[1].Cmdline)
	}

	st := s.query("select lost_total, execs from audit_status")
	if st[0]["lost_total"] != "0" {
		t.Errorf("loss during the test: %v", st)
	}
}

// A process whose parent exits before it runs is reparented, and only the
// proc connector's fork events still know who the parent was.
func TestProcessEventsOrphanChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testenv.Need(t, "the proc connector", procconn.Probe(ctx))
	s := startEventShell(t)
	marker := fmt.Sprintf("gosq-%d", time.Now().UnixNano())
	self := int64(os.Getpid())
	orphan := exec.Command("sh", "-c", fmt.Sprintf(`(sleep 0.3; /bin/true %s-orphan; :) & exit 0`, marker))
	if err := orphan.Run(); err != nil {
		t.Fatal(err)
	}
	rows := s.waitRows(fmt.Sprintf("select pid, parent, cmdline, ancestry from process_events where cmdline = '/bin/true %s-orphan'", marker),
		func(r []map[string]string) bool { return len(r) == 1 })
	// The orphan's parent (the subshell, which never exec'd) and
	// grandparent (the sh that exited at once) are both named.
	oc := chainOf(t, rows[0])
	if len(oc) < 3 || oc[1].PID != int64(orphan.Process.Pid) || oc[0].PPID != int64(orphan.Process.Pid) || oc[2].PID != self {
		t.Errorf("orphan chain should be [subshell, sh %d, test %d, ...]: %+v", orphan.Process.Pid, self, oc)
	}
	if !strings.HasPrefix(oc[1].Cmdline, "sh -c (sleep 0.3;") {
		t.Errorf("exited parent's cmdline %q", oc[1].Cmdline)
	}
}

func TestProcessEventsHostileArguments(t *testing.T) {
	s := startEventShell(t)
	marker := fmt.Sprintf("gosq-args-%d", time.Now().UnixNano())
	odd := []string{marker, "two words", `"quoted"`, `back\slash`, "new\nline", "tab\there", "bad\xff\xfebytes", "'single'"}
	if err := exec.Command("/bin/true", odd...).Run(); err != nil {
		t.Fatal(err)
	}
	many := []string{marker + "-many"}
	for i := 1; i < 3000; i++ {
		many = append(many, "arg"+strconv.Itoa(i))
	}
	many[1500] = strings.Repeat("Z", 20000)
	if err := exec.Command("/bin/true", many...).Run(); err != nil {
		t.Fatal(err)
	}
	truePath := imageOf(t, "/bin/true")
	rows := s.waitRows(fmt.Sprintf("select cmdline, cmdline_size, path from process_events where cmdline like '/bin/true %s%%'", marker),
		func(r []map[string]string) bool { return len(r) >= 2 })
	want1 := "/bin/true " + strings.Join(odd, " ")
	want1 = strings.Replace(want1, "\xff\xfe", "\ufffd\ufffd", 1) // the JSON printer replaces invalid UTF-8
	want2 := "/bin/true " + strings.Join(many, " ")
	got := map[string]bool{}
	for _, r := range rows {
		got[r["cmdline"]] = true
		if r["path"] != truePath {
			t.Errorf("path %q", r["path"])
		}
	}
	if !got[want1] {
		t.Errorf("odd arguments not decoded exactly; rows: %q", rows)
	}
	if !got[want2] {
		t.Errorf("3,000 arguments not decoded exactly (row lengths %d)", len(rows))
	}
}
