package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/audit"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
)

// fleetDaemon starts osqueryd enrolled in srv as Fleet's generated
// flagfile would (config, logger and distributed over TLS), with its own
// directories; extra flags follow.
func fleetDaemon(t *testing.T, srv *remotetest.Server, secret string, extra ...string) (daemonDirs, []string) {
	t.Helper()
	d := newDaemonDirs(t, "{}")
	secretFile := filepath.Join(d.root, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flagfile := filepath.Join(d.root, "osquery.flags")
	lines := append(srv.Flags(),
		"--enroll_secret_path="+secretFile,
		"--config_plugin=tls",
		"--host_identifier=specified", "--specified_identifier=fleet-e2e",
		"--tls_enroll_max_attempts=3",
	)
	if err := os.WriteFile(flagfile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d, append([]string{"--flagfile=" + flagfile}, extra...)
}

// The daemon enrolls with its secret and host details, runs the schedule
// the server's config carries, applies its options, and re-enrolls when the
// server forgets its node key.
func TestFleetEnrollAndConfig(t *testing.T) {
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "fleet-secret", Config: `{
	  "options": {"process_ancestry_cache_size": "77", "schedule_splay_percent": "0"},
	  "schedule": {"from_fleet": {"query": "select 'fleet' as marker, value from osquery_flags where name = 'process_ancestry_cache_size'", "interval": 1}},
	  "node_invalid": false}`})
	d, args := fleetDaemon(t, srv, "fleet-secret", "--config_refresh=1")
	cmd := startDaemon(t, d, args...)
	lines := waitLines(t, d, "the query from the TLS config", func(ls []logLine) bool {
		for _, l := range ls {
			if l.Name == "from_fleet" {
				return true
			}
		}
		return false
	})
	for _, l := range lines {
		if l.Name == "from_fleet" && (l.Columns["marker"] != "fleet" || l.Columns["value"] != "77" || l.HostIdentifier != "fleet-e2e") {
			t.Errorf("line %s", l.raw)
		}
	}
	enrolls := srv.Requests(remotetest.EnrollPath)
	if len(enrolls) != 1 {
		t.Fatalf("%d enrollments", len(enrolls))
	}
	e := enrolls[0].Body
	details, _ := e["host_details"].(map[string]any)
	for _, tbl := range []string{"os_version", "osquery_info", "system_info"} {
		row, _ := details[tbl].(map[string]any)
		if len(row) == 0 {
			t.Errorf("host_details.%s missing: %v", tbl, details)
		}
		for k, v := range row {
			if _, ok := v.(string); !ok {
				t.Errorf("host_details.%s.%s = %v (%T), want a string", tbl, k, v, v)
			}
		}
	}
	if info, _ := details["osquery_info"].(map[string]any); info["version"] != "5.23.0" {
		t.Errorf("osquery_info %v", info)
	}
	if e["host_identifier"] != "fleet-e2e" || e["platform_type"] != "9" || e["enroll_secret"] != "fleet-secret" {
		t.Errorf("enroll body %v", e)
	}
	// The host is deleted in Fleet: its next config request is refused and
	// the daemon enrolls again.
	srv.Invalidate()
	if _, ok := srv.Wait(remotetest.EnrollPath, 20*time.Second, func(r []remotetest.Recorded) bool { return len(r) >= 2 }); !ok {
		t.Fatal("no re-enrollment after node_invalid")
	}
	if _, ok := srv.Wait(remotetest.ConfigPath, 20*time.Second, func(r []remotetest.Recorded) bool {
		return len(r) > 0 && remotetest.NodeKeyOf(r[len(r)-1]) == "this_is_a_node_secret-1"
	}); !ok {
		t.Error("config not fetched with the new node key")
	}
	stopDaemon(t, cmd)
}

// A config the server breaks keeps the last good one; a wrong secret
// never gets a config.
func TestFleetBadConfigKeepsLastGood(t *testing.T) {
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s", Config: `{"schedule": {"good": {"query": "select strftime('%s', 'now') as t", "interval": 1}}}`})
	d, args := fleetDaemon(t, srv, "s", "--config_refresh=1", "--config_accelerated_refresh=1")
	cmd := startDaemon(t, d, args...)
	waitLines(t, d, "the good query", func(ls []logLine) bool { return len(ls) > 0 })
	srv.Handle(remotetest.ConfigPath, func(remotetest.Recorded) (int, []byte) { return 200, []byte(`{"schedule": {"broken": `) })
	n := len(srv.Requests(remotetest.ConfigPath))
	srv.Wait(remotetest.ConfigPath, 10*time.Second, func(r []remotetest.Recorded) bool { return len(r) >= n+3 })
	before := len(readResults(t, d))
	time.Sleep(2500 * time.Millisecond)
	after := readResults(t, d)
	if len(after) <= before {
		t.Errorf("the schedule stopped after a broken config (%d lines, then %d)", before, len(after))
	}
	for _, l := range after {
		if l.Name != "good" {
			t.Errorf("unexpected line %s", l.raw)
		}
	}
	stopDaemon(t, cmd)

	bad := remotetest.Start(t, remotetest.Options{EnrollSecret: "right"})
	d2, args2 := fleetDaemon(t, bad, "wrong", "--tls_enroll_max_attempts=1")
	cmd2 := startDaemon(t, d2, args2...)
	bad.Wait(remotetest.EnrollPath, 10*time.Second, func(r []remotetest.Recorded) bool { return len(r) >= 1 })
	time.Sleep(time.Second)
	if n := len(bad.Requests(remotetest.ConfigPath)); n != 0 {
		t.Errorf("%d config requests without a node key", n)
	}
	stopDaemon(t, cmd2)
}

// resultKey identifies a result line: one query run (epoch, counter) and
// one row change.
func resultKey(m map[string]any) string {
	cols, _ := json.Marshal(m["columns"])
	return fmt.Sprintf("%v/%v/%v/%v/%s", m["name"], m["epoch"], m["counter"], m["action"], cols)
}

// Results and statuses reach the server's log endpoint, and survive an
// outage of the server during which the daemon is SIGKILLed and
// restarted: every line arrives, none twice.
func TestFleetLogsSurviveOutageAndKill(t *testing.T) {
	outage := 60 * time.Second
	if testing.Short() {
		outage = 10 * time.Second
	}
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s", Config: `{
	  "options": {"schedule_splay_percent": "0"},
	  "decorators": {"load": ["select 'dec-value' as dec"]},
	  "schedule": {"tick": {"query": "select strftime('%s', 'now') as t", "interval": 1}}}`})
	// Backoff is bounded so the buffer drains soon after the outage (the
	// backoff itself is tested in internal/logger).
	d, args := fleetDaemon(t, srv, "s", "--logger_plugin=tls", "--logger_tls_period=1", "--logger_min_status=0", "--logger_tls_backoff_max=3")
	cmd := startDaemon(t, d, args...)
	srv.Wait(remotetest.LogPath, 20*time.Second, func([]remotetest.Recorded) bool { return len(srv.LogItems("result")) >= 4 })
	if n := len(srv.LogItems("status")); n == 0 {
		t.Error("no status lines at the log endpoint")
	}
	for _, r := range srv.Requests(remotetest.LogPath) {
		if r.Body["log_type"] != "result" && r.Body["log_type"] != "status" {
			t.Errorf("log request %v", r.Body)
		}
	}

	srv.Close()
	time.Sleep(outage / 2)
	cmd.Process.Kill()
	cmd.Wait()
	cmd = startDaemon(t, d, args...)
	time.Sleep(outage / 2)
	srv.Restart()
	back := time.Now().Unix()
	if _, ok := srv.Wait(remotetest.LogPath, 30*time.Second, func([]remotetest.Recorded) bool {
		for _, m := range srv.LogItems("result") {
			if ut, _ := m["unixTime"].(float64); int64(ut) > back {
				return true
			}
		}
		return false
	}); !ok {
		t.Error("no result line logged after the outage arrived")
	}
	stopDaemon(t, cmd)

	decorated := 0
	for _, st := range srv.LogItems("status") {
		if decs, _ := st["decorations"].(map[string]any); decs["dec"] == "dec-value" {
			decorated++
		}
		if st["hostIdentifier"] != "fleet-e2e" || st["version"] != "5.23.0" {
			t.Errorf("status line %v", st)
			break
		}
	}
	if decorated == 0 {
		t.Error("no status line carries the load decorations")
	}
	items := srv.LogItems("result")
	seen := map[string]int{}
	counters := map[string]map[float64]bool{}
	for _, m := range items {
		if m["name"] != "tick" {
			continue
		}
		k := resultKey(m)
		seen[k]++
		if seen[k] == 2 {
			t.Errorf("line arrived twice: %s", k)
		}
		ep := fmt.Sprint(m["epoch"])
		if counters[ep] == nil {
			counters[ep] = map[float64]bool{}
		}
		c, _ := m["counter"].(float64)
		counters[ep][c] = true
	}
	// Every run of the query changed its row, so every counter from the
	// first to the last must have arrived.
	for ep, cs := range counters {
		lo, hi := -1.0, -1.0
		for c := range cs {
			if lo < 0 || c < lo {
				lo = c
			}
			if c > hi {
				hi = c
			}
		}
		for c := lo; c <= hi; c++ {
			if !cs[c] {
				t.Errorf("epoch %s: run %v missing (runs %v..%v arrived)", ep, c, lo, hi)
			}
		}
		if hi-lo < outage.Seconds()/2 {
			t.Errorf("epoch %s: only runs %v..%v arrived over a %v outage", ep, lo, hi, outage)
		}
	}
	// Each run's added row is the next run's removed row.
	added, removed := map[string]bool{}, map[string]bool{}
	for _, m := range items {
		cols, _ := m["columns"].(map[string]any)
		switch m["action"] {
		case "added":
			added[fmt.Sprint(cols["t"])] = true
		case "removed":
			removed[fmt.Sprint(cols["t"])] = true
		}
	}
	for v := range removed {
		if !added[v] {
			t.Errorf("row %s removed but its addition never arrived", v)
		}
	}
	if len(added) < int(outage.Seconds()/2) {
		t.Errorf("%d distinct rows over a %v outage", len(added), outage)
	}
}

// A live query from the server is answered with rows, including a
// process_events query whose ancestry names the test as the parent; a
// discovery query gates another; a carve asked for by a live query
// arrives whole.
func TestFleetLiveQueriesAndCarve(t *testing.T) {
	claimAudit(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "evidence.txt")
	content := strings.Repeat("attack chain evidence\n", 2000)
	if err := os.WriteFile(secret, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s", Config: `{"options": {
	  "disable_events": "false", "disable_audit": "false", "audit_allow_config": "true",
	  "audit_allow_process_events": "true", "process_ancestry_cache_size": "2000", "process_ancestry_max_depth": "24"}}`})
	d, args := fleetDaemon(t, srv, "s", "--disable_distributed=false", "--distributed_interval=1",
		"--disable_carver=false", "--logger_plugin=filesystem")
	cmd := startDaemon(t, d, args...)

	// Wait until the daemon collects execs, then exec a marked process.
	marker := fmt.Sprintf("gsq-fleet-%d", os.Getpid())
	trueBin, _ := exec.LookPath("true")
	// The server hands out the live queries one stage at a time, once the
	// test has made what they look for.
	var stage atomic.Int32
	srv.Handle(remotetest.DistributedReadPath, func(r remotetest.Recorded) (int, []byte) {
		switch stage.Swap(0) {
		case 1:
			return 200, []byte(`{"queries": {
			  "ancestry": "select pid, parent, cmdline, ancestry from process_events where cmdline like '%` + marker + `%'",
			  "order": "select 1 as b, 2 as a",
			  "gated_yes": "select 'yes' as g", "gated_no": "select 'no' as g",
			  "broken": "select * from no_such_table"},
			  "discovery": {"gated_yes": "select 1", "gated_no": "select 1 where 0"}}`)
		case 2:
			return 200, []byte(`{"queries": {"carve": "select * from carves where path = '` + secret + `' and carve = 1"}}`)
		}
		return 200, []byte(`{"queries": {}}`)
	})
	waitAuditOwner(t, cmd.Process.Pid)
	for i := 0; i < 3; i++ {
		exec.Command(trueBin, marker).Run()
	}
	time.Sleep(time.Second)
	stage.Store(1)
	writes, ok := srv.Wait(remotetest.DistributedWritePath, 30*time.Second, func(r []remotetest.Recorded) bool {
		for _, w := range r {
			if q, _ := w.Body["queries"].(map[string]any); q["ancestry"] != nil {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no distributed write with the ancestry query; %d writes", len(writes))
	}
	var w remotetest.Recorded
	for _, x := range writes {
		if q, _ := x.Body["queries"].(map[string]any); q["ancestry"] != nil {
			w = x
		}
	}
	queries, _ := w.Body["queries"].(map[string]any)
	statuses, _ := w.Body["statuses"].(map[string]any)
	messages, _ := w.Body["messages"].(map[string]any)
	rows, _ := queries["ancestry"].([]any)
	if len(rows) == 0 {
		t.Fatalf("ancestry query returned no rows: %v", w.Body)
	}
	for _, r := range rows {
		row := r.(map[string]any)
		var chain []map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(row["ancestry"])), &chain); err != nil || len(chain) == 0 {
			t.Fatalf("ancestry %v: %v", row["ancestry"], err)
		}
		if fmt.Sprint(chain[0]["pid"]) != fmt.Sprint(os.Getpid()) || row["parent"] != fmt.Sprint(os.Getpid()) {
			t.Errorf("parent element %v, row parent %v, want pid %d", chain[0], row["parent"], os.Getpid())
		}
		if last := chain[len(chain)-1]; fmt.Sprint(last["pid"]) != "1" {
			t.Errorf("chain does not reach pid 1: %v", chain)
		}
	}
	if !strings.Contains(string(w.Raw), `[{"b":"1","a":"2"}]`) {
		t.Errorf("columns not in SELECT order: %s", w.Raw)
	}
	if queries["gated_yes"] == nil || queries["gated_no"] != nil {
		t.Errorf("discovery gating: %v", queries)
	}
	if statuses["order"] != float64(0) || statuses["broken"] == float64(0) || !strings.Contains(fmt.Sprint(messages["broken"]), "no such table") {
		t.Errorf("statuses %v messages %v", statuses, messages)
	}

	stage.Store(2)
	c, err := srv.WaitCarve(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.RequestID != "carve" {
		t.Errorf("carve request_id %q", c.RequestID)
	}
	tr := tar.NewReader(bytes.NewReader(c.Data()))
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(tr)
	if !strings.HasSuffix(h.Name, "evidence.txt") || string(got) != content {
		t.Errorf("carved %s: %d bytes, want %d", h.Name, len(got), len(content))
	}
	stopDaemon(t, cmd)
}

// waitAuditOwner waits until pid owns the kernel's audit with rules in.
func waitAuditOwner(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := audit.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.GetStatus()
		rules, _ := c.ListRules()
		c.Close()
		if err == nil && st.PID == uint32(pid) && len(rules) > 0 {
			time.Sleep(200 * time.Millisecond) // the /proc scan and proc connector start with it
			return
		}
	}
	t.Fatalf("daemon %d did not take audit", pid)
}
