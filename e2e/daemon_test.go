package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonDirs is one daemon's filesystem: config, database, logs, pidfile.
type daemonDirs struct {
	root, conf, db, logs, pid string
}

func newDaemonDirs(t *testing.T, config string) daemonDirs {
	t.Helper()
	root := t.TempDir()
	d := daemonDirs{root: root, conf: filepath.Join(root, "osquery.conf"), db: filepath.Join(root, "db"),
		logs: filepath.Join(root, "log"), pid: filepath.Join(root, "osqueryd.pid")}
	if err := os.WriteFile(d.conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d daemonDirs) args(extra ...string) []string {
	return append([]string{"--config_path=" + d.conf, "--database_path=" + d.db, "--logger_path=" + d.logs,
		"--pidfile=" + d.pid, "--disable_watchdog", "--logger_stderr=false",
		// Each daemon serves its own extension socket so tests never touch /var/osquery.
		"--extensions_socket=" + filepath.Join(d.root, "osquery.em")}, extra...)
}

func startDaemon(t *testing.T, d daemonDirs, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "osqueryd"), d.args(extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd
}

// stopDaemon sends SIGTERM and checks a clean exit within a second.
func stopDaemon(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	waitCleanExit(t, cmd, "SIGTERM")
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("shutdown took %v", d)
	}
}

// waitCleanExit waits up to 10 s for the daemon to exit with status 0
// after what (the cause, for messages), and kills it if it does not.
func waitCleanExit(t *testing.T, cmd *exec.Cmd, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exit after %s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("daemon did not stop on %s", what)
	}
}

type logLine struct {
	Name           string            `json:"name"`
	HostIdentifier string            `json:"hostIdentifier"`
	CalendarTime   string            `json:"calendarTime"`
	UnixTime       int64             `json:"unixTime"`
	Epoch          int64             `json:"epoch"`
	Counter        int64             `json:"counter"`
	Numerics       bool              `json:"numerics"`
	Decorations    map[string]string `json:"decorations"`
	Columns        map[string]string `json:"columns"`
	Action         string            `json:"action"`
	raw            string
}

func readResults(t *testing.T, d daemonDirs) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(d.logs, "osqueryd.results.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("results.log line is not JSON: %v: %s", err, sc.Text())
		}
		l.raw = sc.Text()
		out = append(out, l)
	}
	return out
}

func waitLines(t *testing.T, d daemonDirs, what string, ok func([]logLine) bool) []logLine {
	t.Helper()
	var lines []logLine
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		lines = readResults(t, d)
		if ok(lines) {
			return lines
		}
	}
	t.Fatalf("timed out waiting for %s; %d lines", what, len(lines))
	return nil
}

// A schedule of 1-second queries over a directory the test controls, so
// the differential is known.
func fileSchedule(dir string) string {
	return fmt.Sprintf(`{
  "options": {"host_identifier": "specified", "specified_identifier": "e2e-host", "disable_events": "true"},
  // comments are stripped, as osquery does
  "schedule": {
    "files": {"query": "select filename from file where directory = '%s'", "interval": 1},
    "snap": {"query": "select 'x' as one", "interval": 1, "snapshot": true}
  },
  "decorators": {"load": ["select 'dec-value' as dec"]}
}`, dir)
}

func TestDaemonDifferentialAcrossRestart(t *testing.T) {
	watched := t.TempDir()
	os.WriteFile(filepath.Join(watched, "a"), nil, 0o644)
	d := newDaemonDirs(t, fileSchedule(watched))
	cmd := startDaemon(t, d)
	lines := waitLines(t, d, "first run", func(ls []logLine) bool {
		for _, l := range ls {
			if l.Name == "files" {
				return true
			}
		}
		return false
	})
	first := lines[0]
	for _, l := range lines {
		if l.Name == "files" {
			first = l
			break
		}
	}
	if first.Action != "added" || first.Columns["filename"] != "a" || first.Counter != 0 || first.HostIdentifier != "e2e-host" ||
		first.Decorations["dec"] != "dec-value" || !strings.HasSuffix(first.CalendarTime, " UTC") || first.Numerics {
		t.Fatalf("first line %s", first.raw)
	}
	os.WriteFile(filepath.Join(watched, "b"), nil, 0o644)
	os.Remove(filepath.Join(watched, "a"))
	waitLines(t, d, "second diff", func(ls []logLine) bool {
		n := 0
		for _, l := range ls {
			if l.Name == "files" && l.Counter == 1 && (l.Action == "added" && l.Columns["filename"] == "b" || l.Action == "removed" && l.Columns["filename"] == "a") {
				n++
			}
		}
		return n == 2
	})
	stopDaemon(t, cmd)
	if _, err := os.Stat(d.pid); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}

	// A restart carries on from the stored state: only the change made
	// while it was down is logged, with the next counter.
	os.WriteFile(filepath.Join(watched, "c"), nil, 0o644)
	before := len(readResults(t, d))
	cmd = startDaemon(t, d)
	lines = waitLines(t, d, "diff after restart", func(ls []logLine) bool {
		for _, l := range ls[before:] {
			if l.Name == "files" {
				return true
			}
		}
		return false
	})
	stopDaemon(t, cmd)
	var after []logLine
	for _, l := range lines[before:] {
		if l.Name == "files" {
			after = append(after, l)
		}
	}
	if len(after) != 1 || after[0].Action != "added" || after[0].Columns["filename"] != "c" || after[0].Counter != 2 {
		t.Fatalf("after restart, want one added c with counter 2, got %d lines: %v", len(after), after)
	}
	snaps, _ := os.ReadFile(filepath.Join(d.logs, "osqueryd.snapshots.log"))
	if !strings.Contains(string(snaps), `"snapshot":[{"one":"x"}],"action":"snapshot","name":"snap"`) {
		t.Fatalf("snapshots.log: %.300s", snaps)
	}
	if st, err := os.Stat(filepath.Join(d.logs, "osqueryd.results.log")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("results.log mode: %v %v", st.Mode(), err)
	}
}

func TestDaemonPidfileAndConfigCheck(t *testing.T) {
	d := newDaemonDirs(t, fileSchedule(t.TempDir()))
	cmd := startDaemon(t, d)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(d.pid); strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not write its pidfile")
		}
	}
	second := exec.Command(filepath.Join(binDir, "osqueryd"), d.args()...)
	out, err := second.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "is already running") {
		t.Fatalf("second daemon: %v %s", err, out)
	}
	// --force stops the running daemon (a clean SIGTERM exit) and takes over.
	forced := startDaemon(t, d, "--force")
	waitCleanExit(t, cmd, "a second daemon's --force")
	waitFor(t, "the forced daemon's pid in the pidfile", func() bool {
		b, _ := os.ReadFile(d.pid)
		return strings.TrimSpace(string(b)) == strconv.Itoa(forced.Process.Pid)
	})
	if forced.ProcessState != nil {
		t.Fatalf("the forcing daemon exited: %v", forced.ProcessState)
	}
	stopDaemon(t, forced)

	check := func(conf string, extra ...string) (int, string) {
		path := filepath.Join(t.TempDir(), "c.conf")
		os.WriteFile(path, []byte(conf), 0o644)
		c := exec.Command(filepath.Join(binDir, "osqueryd"), append([]string{"--config_path=" + path}, extra...)...)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(out)
	}
	if code, out := check(`{"schedule": {}}`, "--config_check"); code != 0 {
		t.Errorf("valid config: %d %s", code, out)
	}
	if code, out := check(`{"schedule": `, "--config_check"); code != 1 || !strings.Contains(out, "Error reading config: ") {
		t.Errorf("invalid JSON: %d %s", code, out)
	}
	code, dump := check("{\"options\": {\"verbose\": \"true\"}}\n", "--config_dump")
	if code != 0 || !strings.HasPrefix(dump, "{\"") || !strings.Contains(dump, `"options"`) {
		t.Errorf("config_dump: %d %s", code, dump)
	}
	c := exec.Command(filepath.Join(binDir, "osqueryd"), "--config_path=/nonexistent/x.conf", "--config_check")
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "config file does not exist") {
		t.Errorf("missing config: %v %s", err, out)
	}
	c = exec.Command(filepath.Join(binDir, "osqueryd"), "--config_plugin=nope", "--config_check")
	if _, err := c.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != 78 {
		t.Errorf("unknown config plugin: %v", err)
	}
}

func TestDaemonReloadKeepsLastGoodConfig(t *testing.T) {
	watched := t.TempDir()
	os.WriteFile(filepath.Join(watched, "a"), nil, 0o644)
	d := newDaemonDirs(t, fileSchedule(watched))
	cmd := startDaemon(t, d)
	waitLines(t, d, "start", func(ls []logLine) bool { return len(ls) > 0 })
	os.WriteFile(d.conf, []byte(`{"schedule": `), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	// The old schedule still runs.
	os.WriteFile(filepath.Join(watched, "z"), nil, 0o644)
	waitLines(t, d, "diff after a failed reload", func(ls []logLine) bool {
		for _, l := range ls {
			if l.Columns["filename"] == "z" {
				return true
			}
		}
		return false
	})
	// A good reload replaces the schedule.
	os.WriteFile(d.conf, []byte(`{"schedule": {"fresh": {"query": "select 'new' as v", "interval": 1}}}`), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLines(t, d, "the reloaded schedule", func(ls []logLine) bool {
		for _, l := range ls {
			if l.Name == "fresh" && l.Columns["v"] == "new" {
				return true
			}
		}
		return false
	})
	stopDaemon(t, cmd)
}

// TestDaemonKillDuringWrites kills the daemon with SIGKILL while it logs a
// changing result every second, then restarts it: the store opens, and the
// log read back is consistent: every counter appears once, and applying
// the logged diffs in order gives exactly the final directory.
func TestDaemonKillDuringWrites(t *testing.T) {
	watched := t.TempDir()
	d := newDaemonDirs(t, fileSchedule(watched))
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			os.WriteFile(filepath.Join(watched, "f"+strconv.Itoa(i)), nil, 0o644)
			if i%3 == 0 {
				os.Remove(filepath.Join(watched, "f"+strconv.Itoa(i-2)))
			}
		}
	}()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(filepath.Join(binDir, "osqueryd"), d.args()...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(1500+round*700) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	close(stop)
	<-churned
	cmd := startDaemon(t, d)
	time.Sleep(2500 * time.Millisecond)
	stopDaemon(t, cmd)

	state := map[string]int{}
	seen := map[string]bool{}
	lastCounter := int64(-1)
	for _, l := range readResults(t, d) {
		if l.Name != "files" {
			continue
		}
		key := fmt.Sprint(l.Counter, l.Action, l.Columns["filename"])
		if seen[key] {
			t.Errorf("logged twice: %s", l.raw)
		}
		seen[key] = true
		if l.Counter < lastCounter {
			t.Errorf("counter went back from %d to %d", lastCounter, l.Counter)
		}
		lastCounter = l.Counter
		switch l.Action {
		case "added":
			state[l.Columns["filename"]]++
		case "removed":
			state[l.Columns["filename"]]--
		}
	}
	entries, _ := os.ReadDir(watched)
	for _, e := range entries {
		if state[e.Name()] != 1 {
			t.Errorf("%s is in the directory but the log says %d", e.Name(), state[e.Name()])
		}
		delete(state, e.Name())
	}
	for name, n := range state {
		if n != 0 {
			t.Errorf("%s is gone but the log says %d", name, n)
		}
	}
	if lastCounter < 3 {
		t.Errorf("only %d differentials logged; the test did not exercise restarts", lastCounter)
	}
}

// TestDaemonProcessEventsWithAncestry runs the daemon with audit on and a
// process_events query, and checks the ancestry of known commands in the
// results log.
func TestDaemonProcessEventsWithAncestry(t *testing.T) {
	claimAudit(t)
	d := newDaemonDirs(t, `{
  "options": {"disable_events": "false", "disable_audit": "false", "audit_allow_config": "true"},
  "schedule": {"pe": {"query": "select pid, parent, path, cmdline, ancestry from process_events", "interval": 1}}
}`)
	cmd := startDaemon(t, d)
	time.Sleep(2 * time.Second)
	marker := fmt.Sprintf("daemon-%d", time.Now().UnixNano())
	bash := exec.Command("bash", "-c", fmt.Sprintf(`sh -c "/bin/true %s; :"; :`, marker))
	if err := bash.Run(); err != nil {
		t.Fatal(err)
	}
	lines := waitLines(t, d, "process_events rows", func(ls []logLine) bool {
		for _, l := range ls {
			if l.Columns["cmdline"] == "/bin/true "+marker {
				return true
			}
		}
		return false
	})
	stopDaemon(t, cmd)
	for _, l := range lines {
		if l.Columns["cmdline"] != "/bin/true "+marker {
			continue
		}
		var chain []chainElem
		if err := json.Unmarshal([]byte(l.Columns["ancestry"]), &chain); err != nil {
			t.Fatalf("ancestry: %v", err)
		}
		if len(chain) < 3 || chain[0].ExeName != filepath.Base(imageOf(t, "sh")) || chain[1].PID != int64(bash.Process.Pid) ||
			chain[2].PID != int64(os.Getpid()) || chain[len(chain)-1].PID != 1 || l.Action != "added" {
			t.Fatalf("chain %+v in %s", chain, l.raw)
		}
		return
	}
}
