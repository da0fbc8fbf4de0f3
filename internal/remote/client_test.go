package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// A server that misbehaves gets a clear error and never an unverified or
// downgraded connection.
func TestHostileServers(t *testing.T) {
	ctx := context.Background()
	enrolled := func(t *testing.T, srv *remotetest.Server, extra ...string) *Client {
		c, _ := newClient(t, srv, "s", extra...)
		if _, err := c.NodeKey(ctx); err != nil {
			t.Fatalf("enroll: %v", err)
		}
		return c
	}
	answer := func(status int, body string) remotetest.Handler {
		return func(remotetest.Recorded) (int, []byte) { return status, []byte(body) }
	}
	cases := []struct {
		name    string
		handler remotetest.Handler
		want    string
	}{
		{"not json", answer(200, "<html>oops</html>"), "not a JSON object"},
		{"json array", answer(200, `[1,2]`), "not a JSON object"},
		{"error key", answer(200, `{"error":"boom"}`), "Request failed: boom"},
		{"error object", answer(200, `{"error":{"x":1}}`), `Request failed: {"x":1}`},
		{"empty 503", answer(503, ""), "HTTP 503"},
		{"html 502", answer(502, "<html>bad gateway</html>"), "HTTP 502"},
		{"huge body", func(remotetest.Recorded) (int, []byte) {
			return 200, append(append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), 50<<20)...), `"}`...)
		}, "answer larger than"},
		{"slow loris", func(remotetest.Recorded) (int, []byte) { time.Sleep(5 * time.Second); return 200, []byte("{}") }, "Client.Timeout"},
		{"redirect to http", func(r remotetest.Recorded) (int, []byte) { return 0, nil }, "non-HTTPS"},
		{"redirect loop", func(r remotetest.Recorded) (int, []byte) { return 0, nil }, "more than 10 redirects"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
			c := enrolled(t, srv)
			switch tc.name {
			case "redirect to http":
				srv.Handle("/x", func(remotetest.Recorded) (int, []byte) { return 0, nil })
				srv.Redirect("/x", "http://"+srv.Host+"/y")
			case "redirect loop":
				srv.Redirect("/x", "/x")
			default:
				srv.Handle("/x", tc.handler)
			}
			_, err := c.Post(ctx, Request{Path: "/x"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("redirect kept as POST", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		c := enrolled(t, srv)
		srv.Redirect("/old", "/new")
		srv.Handle("/new", answer(200, `{"ok":true}`))
		ans, err := c.Post(ctx, Request{Path: "/old", Body: map[string]any{"x": "y"}})
		if err != nil || string(ans["ok"]) != "true" {
			t.Fatalf("%v %v", ans, err)
		}
		got := srv.Requests("/new")
		if len(got) != 1 || got[0].Body["x"] != "y" || remotetest.NodeKeyOf(got[0]) == "" {
			t.Errorf("redirected request %+v", got)
		}
	})
	t.Run("gzip both ways", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		c := enrolled(t, srv, "--tls_accept_gzip")
		srv.Handle("/z", answer(200, `{"big":"`+strings.Repeat("y", 4096)+`"}`))
		ans, err := c.Post(ctx, Request{Path: "/z", Compress: true, Body: map[string]any{"k": "v"}})
		if err != nil || len(ans["big"]) != 4098 {
			t.Fatalf("%v", err)
		}
		r := srv.Requests("/z")[0]
		if !r.Gzipped || r.Body["k"] != "v" || r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("request %+v", r)
		}
	})
}

// Certificates the client must refuse, and TLS versions below 1.2.
func TestServerVerification(t *testing.T) {
	ctx := context.Background()
	other := remotetest.NewCA(t)
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(otherFile, other.CertPEM, 0o644)
	cases := []struct {
		name  string
		opts  func(srv *remotetest.Server) remotetest.Options
		extra func(srv *remotetest.Server) []string
		want  string
	}{
		{"expired", func(*remotetest.Server) remotetest.Options {
			return remotetest.Options{CertOptions: &remotetest.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}}
		}, nil, "expired"},
		{"wrong host", func(*remotetest.Server) remotetest.Options {
			return remotetest.Options{CertOptions: &remotetest.CertOptions{Hosts: []string{"fleet.example.com"}}}
		}, func(srv *remotetest.Server) []string {
			_, port, _ := net.SplitHostPort(srv.Host)
			return []string{"--tls_hostname=localhost:" + port}
		}, "certificate is valid for fleet.example.com, not localhost"},
		{"unknown CA", nil, func(*remotetest.Server) []string { return []string{"--tls_server_certs=" + otherFile} }, "unknown authority"},
		{"TLS 1.0 only", func(*remotetest.Server) remotetest.Options {
			return remotetest.Options{TLS: func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }}
		}, nil, "protocol version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := remotetest.Options{}
			if tc.opts != nil {
				o = tc.opts(nil)
			}
			o.EnrollSecret = "s"
			srv := remotetest.Start(t, o)
			var extra []string
			if tc.extra != nil {
				extra = tc.extra(srv)
			}
			c, st := newClient(t, srv, "s", extra...)
			_, err := c.NodeKey(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if n := len(srv.Requests("")); n != 0 {
				t.Errorf("the server received %d requests over an unverified connection", n)
			}
			if _, ok, _ := st.Get(ctx, store.DomainConfigurations, "nodeKey"); ok {
				t.Error("node key stored")
			}
		})
	}
	t.Run("client certificate", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s", RequireClientCert: true})
		c, _ := newClient(t, srv, "s")
		if _, err := c.NodeKey(ctx); err == nil {
			t.Fatal("enrolled without the client certificate the server requires")
		}
		cert, key := srv.CA.Issue(t, remotetest.CertOptions{Client: true, Hosts: []string{"host-a"}})
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "c.pem"), cert, 0o644)
		os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
		c, _ = newClient(t, srv, "s", "--tls_client_cert="+filepath.Join(dir, "c.pem"), "--tls_client_key="+filepath.Join(dir, "k.pem"))
		if _, err := c.NodeKey(ctx); err != nil {
			t.Fatalf("with the client certificate: %v", err)
		}
	})
	t.Run("http scheme refused", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		c, _ := newClient(t, srv, "s")
		if _, _, err := c.post(ctx, "http://"+srv.Host+"/x", []byte("{}"), "", false); err == nil || !strings.Contains(err.Error(), "non-HTTPS") {
			t.Fatalf("err %v", err)
		}
	})
}

// Enrollment answers with wrong types never store a key.
func TestEnrollWrongTypes(t *testing.T) {
	for _, body := range []string{`{"node_key":12}`, `{"node_key":""}`, `{"node_key":null}`, `{}`, `{"node_key":["a"]}`} {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		srv.Handle(remotetest.EnrollPath, func(remotetest.Recorded) (int, []byte) { return 200, []byte(body) })
		c, _ := newClient(t, srv, "s")
		if _, err := c.NodeKey(context.Background()); err == nil || !strings.Contains(err.Error(), "did not contain a node key") {
			t.Errorf("%s: err %v", body, err)
		}
	}
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
	srv.Handle(remotetest.EnrollPath, func(remotetest.Recorded) (int, []byte) { return 200, []byte(`{"id":"from-id"}`) })
	c, _ := newClient(t, srv, "s")
	if k, err := c.NodeKey(context.Background()); err != nil || k != "from-id" {
		t.Errorf("id answer: %q %v", k, err)
	}
}

func TestEnrollmentFlags(t *testing.T) {
	ctx := context.Background()
	t.Run("disable_enrollment", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		srv.Handle("/x", func(remotetest.Recorded) (int, []byte) { return 200, []byte("{}") })
		c, _ := newClient(t, srv, "s", "--disable_enrollment")
		if _, err := c.Post(ctx, Request{Path: "/x"}); err != nil {
			t.Fatal(err)
		}
		r := srv.Requests("")
		if len(r) != 1 || r[0].Path != "/x" || r[0].Body["node_key"] != "" || r[0].Header.Get("Authorization") != "" {
			t.Errorf("requests %+v", r)
		}
	})
	t.Run("enroll_secret_env", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "from-env"})
		t.Setenv("GOSQ_TEST_SECRET", " from-env\n")
		c, _ := newClient(t, srv, "ignored", "--enroll_secret_path=", "--enroll_secret_env=GOSQ_TEST_SECRET")
		if _, err := c.NodeKey(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("enroll_always", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		c, st := newClient(t, srv, "s")
		first, err := c.NodeKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A new client on the same store reuses the key, unless
		// --enroll_always.
		c2 := New(Options{Flags: c.o.Flags, Store: st, Sleep: c.o.Sleep, Timeout: c.o.Timeout})
		if k, _ := c2.NodeKey(ctx); k != first {
			t.Errorf("key %q not reused (%q)", k, first)
		}
		c.o.Flags.Set("enroll_always", "true")
		c3 := New(Options{Flags: c.o.Flags, Store: st, Sleep: c.o.Sleep, Timeout: c.o.Timeout})
		if k, _ := c3.NodeKey(ctx); k == first || k == "" {
			t.Errorf("--enroll_always kept %q", k)
		}
		if n := len(srv.Requests(remotetest.EnrollPath)); n != 2 {
			t.Errorf("%d enrollments", n)
		}
	})
	t.Run("tls_secret_always", func(t *testing.T) {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		srv.Handle("/x", func(remotetest.Recorded) (int, []byte) { return 200, []byte("{}") })
		c, _ := newClient(t, srv, "s", "--tls_secret_always")
		if _, err := c.Post(ctx, Request{Path: "/x"}); err != nil {
			t.Fatal(err)
		}
		r := srv.Requests("/x")[0]
		if r.Body["enroll_secret"] != "s" {
			t.Errorf("body %v", r.Body)
		}
	})
}

// Requests share one kept-alive connection; --tls_session_reuse=false
// opens one per request; --proxy_hostname tunnels through an HTTP proxy.
func TestConnectionsAndProxy(t *testing.T) {
	ctx := context.Background()
	ok := func(remotetest.Recorded) (int, []byte) { return 200, []byte("{}") }
	for _, tc := range []struct {
		reuse bool
		want  func(n int) bool
	}{{true, func(n int) bool { return n == 1 }}, {false, func(n int) bool { return n >= 6 }}} {
		srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
		srv.Handle("/x", ok)
		c, _ := newClient(t, srv, "s", fmt.Sprintf("--tls_session_reuse=%v", tc.reuse))
		for i := 0; i < 5; i++ {
			if _, err := c.Post(ctx, Request{Path: "/x"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.Connections(); !tc.want(n) {
			t.Errorf("reuse=%v: %d connections for 6 requests", tc.reuse, n)
		}
	}

	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "s"})
	srv.Handle("/x", ok)
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		tunnels.Add(1)
		w.WriteHeader(http.StatusOK)
		conn, buf, _ := w.(http.Hijacker).Hijack()
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	defer proxy.Close()
	c, _ := newClient(t, srv, "s", "--proxy_hostname="+strings.TrimPrefix(proxy.URL, "http://"))
	if _, err := c.Post(ctx, Request{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if tunnels.Load() == 0 {
		t.Error("the request did not go through the proxy")
	}
}

func TestEncodeBody(t *testing.T) {
	b, err := encodeBody(map[string]any{"z": json.RawMessage(`{"q":[{"b":"1","a":"2"}]}`), "a": "x\"y", "n": 3, "m": map[string]any{"k": true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"x\"y","m":{"k":true},"n":3,"z":{"q":[{"b":"1","a":"2"}]}}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if _, err := encodeBody(map[string]any{"f": func() {}}); err == nil {
		t.Error("a func encoded")
	}
}
