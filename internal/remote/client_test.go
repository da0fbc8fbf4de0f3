package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/store"
)

// newClient points a client with an in-memory store at srv, with the
// secret file holding secret and retries that do not sleep.
func newClient(t *testing.T, srv *remotetest.Server, secret string, extra ...string) (*Client, *store.DB) {
	t.Helper()
	fl := flags.Standard()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(srv.Flags(), "--enroll_secret_path="+path, "--tls_enroll_max_attempts=2")
	if _, err := fl.Parse(append(args, extra...)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := New(Options{
		Flags: fl, Store: st,
		HostIdentifier: func() string { return "host-a" },
		HostDetails: func(context.Context) map[string]map[string]string {
			return map[string]map[string]string{"osquery_info": {"version": "5.23.0"}}
		},
		Sleep:   func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		Timeout: 3 * time.Second,
	})
	return c, st
}

func TestEnrollAndNodeKeyHeader(t *testing.T) {
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s3cret"})
	c, st := newClient(t, srv, "s3cret")
	ctx := context.Background()
	ans, err := c.Post(ctx, Request{Path: remotetest.ConfigPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ans["schedule"]; !ok {
		t.Errorf("config answer %v", ans)
	}
	enrolls := srv.Requests(remotetest.EnrollPath)
	if len(enrolls) != 1 {
		t.Fatalf("%d enroll requests", len(enrolls))
	}
	e := enrolls[0].Body
	if e["enroll_secret"] != "s3cret" || e["host_identifier"] != "host-a" || e["platform_type"] != "9" || e["node_key"] != nil {
		t.Errorf("enroll body %v", e)
	}
	if d, _ := e["host_details"].(map[string]any); d["osquery_info"] == nil {
		t.Errorf("host_details %v", e["host_details"])
	}
	cfg := srv.Requests(remotetest.ConfigPath)[0]
	if remotetest.NodeKeyOf(cfg) != "this_is_a_node_secret" || cfg.Header.Get("Authorization") != "NodeKey this_is_a_node_secret" ||
		cfg.Header.Get("User-Agent") != "osquery/5.23.0" || cfg.Header.Get("Content-Type") != "application/json" {
		t.Errorf("config request %v %v", cfg.Body, cfg.Header)
	}
	if b, ok, _ := st.Get(ctx, store.DomainConfigurations, "nodeKey"); !ok || string(b) != "this_is_a_node_secret" {
		t.Errorf("stored node key %q %v", b, ok)
	}
	if _, ok, _ := st.Get(ctx, store.DomainConfigurations, "nodeKeyTime"); !ok {
		t.Error("nodeKeyTime not stored")
	}
	// The stored key is reused: no second enrollment.
	if _, err := c.Post(ctx, Request{Path: remotetest.ConfigPath}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Requests(remotetest.EnrollPath)); n != 1 {
		t.Errorf("%d enrollments for two requests", n)
	}
}

func TestWrongSecretFailsAfterAttempts(t *testing.T) {
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "right"})
	c, st := newClient(t, srv, "wrong")
	_, err := c.Post(context.Background(), Request{Path: remotetest.ConfigPath})
	if err == nil || !strings.Contains(err.Error(), "Failed to enroll after 2 attempts") {
		t.Fatalf("err %v", err)
	}
	if n := len(srv.Requests(remotetest.EnrollPath)); n != 2 {
		t.Errorf("%d enroll attempts, want 2", n)
	}
	if n := len(srv.Requests(remotetest.ConfigPath)); n != 0 {
		t.Errorf("config requested without a node key (%d)", n)
	}
	if _, ok, _ := st.Get(context.Background(), store.DomainConfigurations, "nodeKey"); ok {
		t.Error("a node key was stored")
	}
}

func TestNodeInvalidReenrolls(t *testing.T) {
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
	c, _ := newClient(t, srv, "s")
	ctx := context.Background()
	if _, err := c.Post(ctx, Request{Path: remotetest.ConfigPath}); err != nil {
		t.Fatal(err)
	}
	srv.Invalidate()
	_, err := c.Post(ctx, Request{Path: remotetest.ConfigPath})
	if err == nil || !strings.Contains(err.Error(), "Invalid node key") {
		t.Fatalf("err %v", err)
	}
	if _, err := c.Post(ctx, Request{Path: remotetest.ConfigPath}); err != nil {
		t.Fatalf("after re-enrollment: %v", err)
	}
	reqs := srv.Requests(remotetest.ConfigPath)
	if n := len(srv.Requests(remotetest.EnrollPath)); n != 2 || remotetest.NodeKeyOf(reqs[2]) == remotetest.NodeKeyOf(reqs[0]) {
		t.Errorf("%d enrollments; keys %q %q", n, remotetest.NodeKeyOf(reqs[0]), remotetest.NodeKeyOf(reqs[2]))
	}
	if s := c.Stats(); s.NodeInvalid != 1 || s.Enrollments != 2 {
		t.Errorf("stats %+v", s)
	}
}
