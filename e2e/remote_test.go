package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
