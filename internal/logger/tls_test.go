package logger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/store"
)

// manualClock is the remote client's Sleep driven by the test: the
// forwarder runs one period per step.
type manualClock struct {
	waiting chan time.Duration
	release chan struct{}
}

func newManualClock() *manualClock {
	return &manualClock{waiting: make(chan time.Duration), release: make(chan struct{})}
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.waiting <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// park waits until the forwarder sleeps and returns how long it asked for.
func (c *manualClock) park(t testing.TB) time.Duration {
	t.Helper()
	select {
	case d := <-c.waiting:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder did not go to sleep")
		return 0
	}
}

// step runs one forwarder period and waits for its end; it returns the
// next sleep asked for.
func (c *manualClock) step(t testing.TB) time.Duration {
	t.Helper()
	select {
	case c.release <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder is not sleeping")
	}
	return c.park(t)
}

// fastSleep runs periods 20 times faster than real time.
func fastSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d / 20)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recordLog keeps what the plugin logs.
type recordLog struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordLog) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *recordLog) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recordLog) WithGroup(string) slog.Handler      { return r }

func (r *recordLog) find(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			out = append(out, m)
		}
	}
	return out
}

type tlsHarness struct {
	t      testing.TB
	srv    *remotetest.Server
	fl     *flags.Set
	dbPath string
	st     *store.DB
	client *remote.Client
	log    *recordLog
	clock  *manualClock // nil with fastSleep
}

// newHarness starts a server and opens a store file and a client; with
// manual the forwarder's periods are stepped by the test.
func newHarness(t testing.TB, manual bool, extra ...string) *tlsHarness {
	t.Helper()
	h := &tlsHarness{t: t, srv: remotetest.Start(t, remotetest.Options{EnrollSecret: "s3cret"}), log: &recordLog{}}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.fl = flags.Standard()
	args := append(h.srv.Flags(), "--enroll_secret_path="+secret, "--tls_enroll_max_attempts=1", "--logger_tls_period=1")
	if _, err := h.fl.Parse(append(args, extra...)); err != nil {
		t.Fatal(err)
	}
	h.dbPath = filepath.Join(dir, "osquery.sqlite")
	if manual {
		h.clock = newManualClock()
	}
	h.openStore()
	return h
}

func (h *tlsHarness) openStore() {
	h.t.Helper()
	st, err := store.Open(h.dbPath, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	h.st = st
	sleep := fastSleep
	if h.clock != nil {
		sleep = h.clock.Sleep
	}
	h.client = remote.New(remote.Options{
		Flags: h.fl, Store: st, Log: slog.New(h.log),
		HostIdentifier: func() string { return "host-a" },
		Sleep:          sleep,
		Timeout:        3 * time.Second,
	})
}

// open starts a plugin (parked in its first sleep with a manual clock).
func (h *tlsHarness) open(sentMax int) *TLS {
	h.t.Helper()
	p, err := newTLS(Config{Remote: h.client, Store: h.st, Hostname: "host-a"}, sentMax)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { p.Close() })
	if h.clock != nil {
		if d := h.clock.park(h.t); d != time.Second {
			h.t.Fatalf("period %v, want 1s", d)
		}
	}
	return p
}

// bufferKeys lists the plugin's buffer keys in the store, in order.
func (h *tlsHarness) bufferKeys(prefix string) []string {
	h.t.Helper()
	var keys []string
	if err := h.st.Scan(context.Background(), store.DomainLogs, prefix, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return keys
}

func resultLine(i int) []byte {
	return fmt.Appendf(nil, `{"name":"q","hostIdentifier":"host-a","unixTime":1700000000,"counter":%d,"columns":{"i":"%d","path":"/bin/<sh>"},"action":"added"}`, i, i)
}

// itemIndex is the "i" column of a data item.
func itemIndex(t *testing.T, item map[string]any) int {
	t.Helper()
	cols, _ := item["columns"].(map[string]any)
	var i int
	if _, err := fmt.Sscan(fmt.Sprint(cols["i"]), &i); err != nil {
		t.Fatalf("item %v", item)
	}
	return i
}

func logResults(t *testing.T, p *TLS, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := p.LogResult(context.Background(), resultLine(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func wantIndexes(t *testing.T, items []map[string]any, from, to int) {
	t.Helper()
	if len(items) != to-from {
		t.Fatalf("%d items, want %d", len(items), to-from)
	}
	for k, it := range items {
		if got := itemIndex(t, it); got != from+k {
			t.Fatalf("item %d is line %d, want %d", k, got, from+k)
		}
	}
}

func testStatuses() []logging.Status {
	at := time.Date(2025, 1, 6, 12, 34, 56, 0, time.UTC)
	return []logging.Status{
		{Severity: logging.Warning, File: "scheduler.go", Line: 12, Message: "first \"quoted\"", Time: at},
		{Severity: logging.Error, File: "tls.go", Line: 99, Message: "second", Time: at.Add(time.Second)},
	}
}

func TestTLSShipsResultsAndStatuses(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(DefaultTLSSentMemory)
	ctx := context.Background()
	logResults(t, p, 0, 3)
	if err := p.LogSnapshot(ctx, resultLine(3)); err != nil {
		t.Fatal(err)
	}
	if err := p.LogStatus(ctx, testStatuses()); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.BufferedResults != 4 || s.BufferedStatuses != 2 {
		t.Fatalf("before sending: %+v", s)
	}
	if n := len(h.srv.Requests(remotetest.LogPath)); n != 0 {
		t.Fatalf("%d log requests before the first period", n)
	}
	h.clock.step(t)

	reqs := h.srv.Requests(remotetest.LogPath)
	if len(reqs) != 2 {
		t.Fatalf("%d log requests, want 2", len(reqs))
	}
	res, sts := reqs[0], reqs[1]
	if res.Body["log_type"] != "result" || sts.Body["log_type"] != "status" {
		t.Fatalf("log types %v %v", res.Body["log_type"], sts.Body["log_type"])
	}
	for _, r := range reqs {
		if keys := strings.Join(remotetest.Keys(r.Body), ","); keys != "data,log_type,node_key" {
			t.Errorf("body keys %s", keys)
		}
		if remotetest.NodeKeyOf(r) != "this_is_a_node_secret" || r.Header.Get("Authorization") != "NodeKey this_is_a_node_secret" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "osquery/5.23.0" || r.Gzipped {
			t.Errorf("request %v %v gzip=%v", r.Body, r.Header, r.Gzipped)
		}
	}
	wantIndexes(t, h.srv.LogItems("result"), 0, 4)
	// Each line is one data item, parsed back to the same object.
	var data []json.RawMessage
	var body struct{ Data []json.RawMessage }
	if err := json.Unmarshal(res.Raw, &body); err != nil {
		t.Fatal(err)
	}
	data = body.Data
	for i, raw := range data {
		var got, want any
		json.Unmarshal(raw, &got)
		json.Unmarshal(resultLine(i), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("item %d: %s, want %s", i, raw, resultLine(i))
		}
	}
	// Statuses are the §3.5 objects, byte for byte in key order.
	env := StatusEnvelope{HostIdentifier: "host-a", Version: "5.23.0"}
	for _, s := range testStatuses() {
		line := AppendStatusJSON(nil, s, &env)
		if !bytes.Contains(sts.Raw, line) {
			t.Errorf("status body %s lacks %s", sts.Raw, line)
		}
	}
	if items := h.srv.LogItems("status"); len(items) != 2 || items[1]["message"] != "second" || items[0]["severity"] != 1.0 {
		t.Errorf("status items %v", items)
	}
	s := p.Stats()
	if s.BufferedResults != 0 || s.BufferedStatuses != 0 || s.SentResults != 4 || s.SentStatuses != 2 || s.Requests != 2 || s.Failures != 0 || s.LastSuccess.IsZero() {
		t.Errorf("stats %+v", s)
	}
	if k := h.bufferKeys("tls_r_"); len(k) != 0 {
		t.Errorf("left in the buffer: %v", k)
	}
	if k := h.bufferKeys("tls_s_"); len(k) != 0 {
		t.Errorf("left in the buffer: %v", k)
	}
	// An empty buffer sends nothing; the period is read at each use.
	h.fl.Set("logger_tls_period", "3")
	if d := h.clock.step(t); d != 3*time.Second {
		t.Errorf("period %v after --logger_tls_period=3", d)
	}
	if n := len(h.srv.Requests(remotetest.LogPath)); n != 2 {
		t.Errorf("%d requests with an empty buffer", n)
	}
}

func TestTLSCompress(t *testing.T) {
	h := newHarness(t, true, "--logger_tls_compress=true")
	p := h.open(DefaultTLSSentMemory)
	logResults(t, p, 0, 5)
	h.clock.step(t)
	reqs := h.srv.Requests(remotetest.LogPath)
	if len(reqs) != 1 || !reqs[0].Gzipped || reqs[0].Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("requests %+v", reqs)
	}
	wantIndexes(t, h.srv.LogItems("result"), 0, 5)
	// Turned off by a config option at run time.
	h.fl.Set("logger_tls_compress", "false")
	logResults(t, p, 5, 6)
	h.clock.step(t)
	reqs = h.srv.Requests(remotetest.LogPath)
	if len(reqs) != 2 || reqs[1].Gzipped {
		t.Fatalf("after --logger_tls_compress=false: %d requests, gzip %v", len(reqs), reqs[len(reqs)-1].Gzipped)
	}
}

func TestTLSMaxLines(t *testing.T) {
	h := newHarness(t, true, "--logger_tls_max_lines=3")
	p := h.open(DefaultTLSSentMemory)
	logResults(t, p, 0, 7)
	var sizes []int
	for range 4 {
		h.clock.step(t)
	}
	h.fl.Set("logger_tls_max_lines", "5")
	logResults(t, p, 7, 13)
	for range 2 {
		h.clock.step(t)
	}
	for _, r := range h.srv.Requests(remotetest.LogPath) {
		d, _ := r.Body["data"].([]any)
		sizes = append(sizes, len(d))
	}
	if fmt.Sprint(sizes) != "[3 3 1 5 1]" {
		t.Errorf("batch sizes %v, want [3 3 1 5 1]", sizes)
	}
	wantIndexes(t, h.srv.LogItems("result"), 0, 13)
}

func TestTLSDropsOversizedAndInvalid(t *testing.T) {
	h := newHarness(t, true, "--logger_tls_max_linesize=200")
	p := h.open(DefaultTLSSentMemory)
	ctx := context.Background()
	big := fmt.Appendf(nil, `{"name":"q","columns":{"i":"99","pad":"%s"}}`, strings.Repeat("x", 300))
	for _, l := range [][]byte{resultLine(0), big, []byte("not json"), resultLine(1), []byte(`[1,2]`), []byte(`{"unterminated":`), resultLine(2)} {
		if err := p.LogResult(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 3)
	s := p.Stats()
	if s.DroppedSize != 1 || s.DroppedInvalid != 3 || s.BufferedResults != 0 || s.SentResults != 3 {
		t.Errorf("stats %+v", s)
	}
	if k := h.bufferKeys("tls_r_"); len(k) != 0 {
		t.Errorf("left in the buffer: %v", k)
	}
	if w := h.log.find("larger than --logger_tls_max_linesize (200 bytes"); len(w) != 1 || !strings.HasPrefix(w[0], "WARN") {
		t.Errorf("size warning %q", w)
	}
	if w := h.log.find("dropped 3 result lines that are not a JSON object"); len(w) != 1 {
		t.Errorf("invalid warning %q (all: %q)", w, h.log.find(""))
	}
}

func TestTLSOutageEveryLineOnceInOrder(t *testing.T) {
	h := newHarness(t, false, "--logger_tls_backoff_max=2")
	p := h.open(DefaultTLSSentMemory)
	// Enrolled and shipping before the outage.
	logResults(t, p, 0, 10)
	if _, ok := h.srv.Wait(remotetest.LogPath, 5*time.Second, func(r []remotetest.Recorded) bool { return len(h.srv.LogItems("result")) == 10 }); !ok {
		t.Fatal("the first lines did not arrive")
	}
	h.srv.Close()
	logResults(t, p, 10, 2010)
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Failures < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s := p.Stats()
	if s.Failures < 2 || s.BufferedResults != 2000 || s.LastError == "" {
		t.Fatalf("during the outage: %+v", s)
	}
	h.srv.Restart()
	if _, ok := h.srv.Wait(remotetest.LogPath, 10*time.Second, func([]remotetest.Recorded) bool {
		return len(h.srv.LogItems("result")) >= 2010 && p.Stats().BufferedResults == 0
	}); !ok {
		t.Fatalf("after the outage %d items arrived, stats %+v", len(h.srv.LogItems("result")), p.Stats())
	}
	// A few more periods: nothing is sent twice.
	time.Sleep(200 * time.Millisecond)
	wantIndexes(t, h.srv.LogItems("result"), 0, 2010)
	if s := p.Stats(); s.SentResults != 2010 || s.ConsecutiveFailures[kindResult] != 0 {
		t.Errorf("stats %+v", s)
	}
	if w := h.log.find("cannot send result logs"); len(w) == 0 {
		t.Error("no warning about the failed sends")
	}
	if w := h.log.find("result logs sent again after"); len(w) != 1 {
		t.Errorf("recovery notes %q", w)
	}
}

func TestTLSFailingServerKeepsBuffer(t *testing.T) {
	h := newHarness(t, true, "--logger_tls_backoff_max=0", "--tls_disable_status_log=true")
	p := h.open(DefaultTLSSentMemory)
	logResults(t, p, 0, 5)
	// One accepted request enrolls the node.
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 5)
	logResults(t, p, 5, 12)

	var mu sync.Mutex
	var accepted []map[string]any
	answers := []struct {
		status int
		body   string
		err    string
	}{
		{http.StatusInternalServerError, `{}`, "HTTP 500"},
		{http.StatusOK, `<html>busy</html>`, "not a JSON object"},
		{http.StatusOK, `{"error":"database locked"}`, "database locked"},
		{http.StatusOK, `{"error":"invalid node key","node_invalid":true}`, "Invalid node key"},
	}
	next := 0
	h.srv.Handle(remotetest.LogPath, func(r remotetest.Recorded) (int, []byte) {
		mu.Lock()
		defer mu.Unlock()
		if next < len(answers) {
			a := answers[next]
			next++
			return a.status, []byte(a.body)
		}
		items, _ := r.Body["data"].([]any)
		for _, it := range items {
			accepted = append(accepted, it.(map[string]any))
		}
		return http.StatusOK, []byte(`{}`)
	})
	for i, a := range answers {
		h.clock.step(t)
		s := p.Stats()
		if s.BufferedResults != 7 || s.Failures != int64(i+1) || !strings.Contains(s.LastError, a.err) || s.ConsecutiveFailures[kindResult] != int64(i+1) {
			t.Fatalf("after answer %d (%s): %+v", i, a.body, s)
		}
		if k := h.bufferKeys("tls_r_"); len(k) != 7 {
			t.Fatalf("after answer %d: %d keys buffered", i, len(k))
		}
	}
	h.clock.step(t)
	mu.Lock()
	wantIndexes(t, accepted, 5, 12)
	mu.Unlock()
	if s := p.Stats(); s.BufferedResults != 0 || s.SentResults != 12 || s.ConsecutiveFailures[kindResult] != 0 {
		t.Errorf("stats %+v", s)
	}
	// node_invalid dropped the key: the node enrolled again and the last
	// request carries the new key.
	if n := len(h.srv.Requests(remotetest.EnrollPath)); n != 2 {
		t.Errorf("%d enrollments, want 2", n)
	}
	reqs := h.srv.Requests(remotetest.LogPath)
	if k := remotetest.NodeKeyOf(reqs[len(reqs)-1]); k != "this_is_a_node_secret-1" {
		t.Errorf("node key after re-enrollment %q", k)
	}
}

func TestTLSBackoff(t *testing.T) {
	for _, tc := range []struct {
		backoffMax string
		want       []int // periods (1-based) in which a result request is made
	}{
		// n² periods after the n-th failure: 1, 4, 9...
		{"3600", []int{1, 2, 6, 15}},
		{"2", []int{1, 2, 4, 6, 8, 10, 12, 14, 16}},
		{"0", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
	} {
		t.Run(tc.backoffMax, func(t *testing.T) {
			h := newHarness(t, true, "--logger_tls_backoff_max="+tc.backoffMax)
			var mu sync.Mutex
			period := 0
			var got []int
			h.srv.Handle(remotetest.LogPath, func(r remotetest.Recorded) (int, []byte) {
				if r.Body["log_type"] == "status" {
					return http.StatusOK, []byte(`{}`)
				}
				mu.Lock()
				got = append(got, period)
				mu.Unlock()
				return http.StatusServiceUnavailable, []byte(`{"error":"overloaded"}`)
			})
			p := h.open(DefaultTLSSentMemory)
			logResults(t, p, 0, 1)
			for i := 1; i <= 16; i++ {
				mu.Lock()
				period = i
				mu.Unlock()
				// Statuses have their own backoff: they go every period.
				if err := p.LogStatus(context.Background(), testStatuses()[:1]); err != nil {
					t.Fatal(err)
				}
				h.clock.step(t)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tc.want) {
				t.Errorf("result requests in periods %v, want %v", got, tc.want)
			}
			if s := p.Stats(); s.SentStatuses != 16 || s.BufferedResults != 1 || s.ConsecutiveFailures[kindStatus] != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestTLSBackoffFormula(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		period time.Duration
		n      int64
		max    time.Duration
		want   time.Duration
	}{
		{4 * s, 1, 3600 * s, 4 * s},
		{4 * s, 3, 3600 * s, 36 * s},
		{4 * s, 30, 3600 * s, 3600 * s},
		{4 * s, 1 << 40, 3600 * s, 3600 * s},
		{4 * s, 5, 0, 4 * s},
		{10 * s, 1, 2 * s, 2 * s},
	} {
		if got := tlsBackoff(tc.period, tc.n, tc.max); got != tc.want {
			t.Errorf("tlsBackoff(%v, %d, %v) = %v, want %v", tc.period, tc.n, tc.max, got, tc.want)
		}
	}
}

func TestTLSPurge(t *testing.T) {
	h := newHarness(t, true, "--buffered_log_max=10")
	p := h.open(DefaultTLSSentMemory)
	ctx := context.Background()
	// Oldest first: 2 statuses, 20 results, 1 status.
	if err := p.LogStatus(ctx, testStatuses()); err != nil {
		t.Fatal(err)
	}
	logResults(t, p, 0, 20)
	if err := p.LogStatus(ctx, testStatuses()[1:]); err != nil {
		t.Fatal(err)
	}
	h.clock.step(t)
	// 23 buffered, 13 purged: both old statuses and results 0..10.
	wantIndexes(t, h.srv.LogItems("result"), 11, 20)
	if items := h.srv.LogItems("status"); len(items) != 1 {
		t.Errorf("%d statuses sent, want the newest only", len(items))
	}
	if s := p.Stats(); s.DroppedPurged != 13 || s.BufferedResults != 0 || s.BufferedStatuses != 0 {
		t.Errorf("stats %+v", s)
	}
	w := h.log.find("exceeds maximum")
	if len(w) != 1 || !strings.HasPrefix(w[0], "WARN") || !strings.Contains(w[0], "size 23 exceeds maximum 10, purged 13 oldest") {
		t.Errorf("warnings %q", w)
	}
	// 0 is unlimited.
	h.fl.Set("buffered_log_max", "0")
	h.srv.Close()
	logResults(t, p, 20, 40)
	h.clock.step(t)
	if s := p.Stats(); s.DroppedPurged != 13 || s.BufferedResults != 20 {
		t.Errorf("unlimited: %+v", s)
	}
}

func TestTLSRestartContinues(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(DefaultTLSSentMemory)
	ctx := context.Background()
	logResults(t, p, 0, 3)
	if err := p.LogStatus(ctx, testStatuses()[:1]); err != nil {
		t.Fatal(err)
	}
	logResults(t, p, 3, 5)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.LogResult(ctx, resultLine(99)); !errors.Is(err, errClosed) {
		t.Fatalf("LogResult after Close: %v", err)
	}
	if n := len(h.srv.Requests(remotetest.LogPath)); n != 0 {
		t.Fatalf("%d requests before any period", n)
	}
	before := append(h.bufferKeys(tlsResultPrefix), h.bufferKeys(tlsStatusPrefix)...)
	// A new process: store and client opened again on the same file.
	h.st.Close()
	h.openStore()
	p = h.open(DefaultTLSSentMemory)
	if s := p.Stats(); s.BufferedResults != 5 || s.BufferedStatuses != 1 {
		t.Fatalf("after reopening: %+v", s)
	}
	logResults(t, p, 5, 8)
	if err := p.LogStatus(ctx, testStatuses()[1:]); err != nil {
		t.Fatal(err)
	}
	// Counters go on from the first run: every key is newer than the old
	// ones and the store's order is arrival order.
	var last uint64
	var order []string
	for _, prefix := range []string{tlsResultPrefix, tlsStatusPrefix} {
		for _, k := range h.bufferKeys(prefix) {
			order = append(order, k)
		}
	}
	slices.SortFunc(order, func(a, b string) int { return strings.Compare(keyOrder(a), keyOrder(b)) })
	for i, k := range order {
		_, n, ok := parseTLSKey(k)
		if !ok || n != uint64(i+1) || n <= last {
			t.Fatalf("key %d is %s", i, k)
		}
		last = n
	}
	if len(order) != 10 {
		t.Fatalf("keys %v", order)
	}
	for _, k := range before {
		if !slices.Contains(order, k) {
			t.Fatalf("key %s of the first run is gone: %v", k, order)
		}
	}
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 8)
	if items := h.srv.LogItems("status"); len(items) != 2 || items[0]["message"] != testStatuses()[0].Message {
		t.Errorf("statuses %v", items)
	}
}

func TestTLSRecountsWithoutBookkeeping(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(DefaultTLSSentMemory)
	logResults(t, p, 0, 4)
	p.Close()
	if err := h.st.Delete(context.Background(), store.DomainLogs, tlsMetaKey); err != nil {
		t.Fatal(err)
	}
	p = h.open(DefaultTLSSentMemory)
	if s := p.Stats(); s.BufferedResults != 4 {
		t.Fatalf("recounted %+v", s)
	}
	logResults(t, p, 4, 5)
	keys := h.bufferKeys(tlsResultPrefix)
	if _, n, _ := parseTLSKey(keys[len(keys)-1]); n != 5 {
		t.Errorf("counter after a recount: %v", keys)
	}
	// Keys removed behind its back are noticed when the buffer is read.
	if _, err := h.st.DeletePrefix(context.Background(), store.DomainLogs, tlsResultPrefix); err != nil {
		t.Fatal(err)
	}
	h.clock.step(t)
	if s := p.Stats(); s.BufferedResults != 0 {
		t.Errorf("after keys vanished: %+v", s)
	}
}

func TestTLSHolds(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(3)
	logResults(t, p, 0, 1)
	if !p.Holds(resultLine(0)) {
		t.Error("a buffered line is not held")
	}
	if p.Holds(resultLine(1)) {
		t.Error("a line never logged is held")
	}
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 1)
	if !p.Holds(resultLine(0)) {
		t.Error("a line just sent is not held")
	}
	// Statuses are not results.
	if err := p.LogStatus(context.Background(), testStatuses()); err != nil {
		t.Fatal(err)
	}
	if p.Holds(AppendStatusJSON(nil, testStatuses()[0], &StatusEnvelope{HostIdentifier: "host-a", Version: "5.23.0"})) {
		t.Error("a status line is held")
	}
	// The sent memory keeps at least 3 lines, whole batches: 0 goes once
	// 1, 2 and 3 are sent.
	for i := 1; i <= 3; i++ {
		logResults(t, p, i, i+1)
		h.clock.step(t)
	}
	for i, want := range []bool{false, true, true, true} {
		if got := p.Holds(resultLine(i)); got != want {
			t.Errorf("Holds(line %d) = %v, want %v", i, got, want)
		}
	}
	// The memory survives a restart.
	p.Close()
	h.st.Close()
	h.openStore()
	p = h.open(3)
	for i, want := range []bool{false, true, true, true} {
		if got := p.Holds(resultLine(i)); got != want {
			t.Errorf("after restart Holds(line %d) = %v, want %v", i, got, want)
		}
	}
	if keys := h.bufferKeys(tlsSentPrefix); len(keys) != 3 {
		t.Errorf("sent memory keys %v", keys)
	}
}

func TestTLSReplayFilter(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(DefaultTLSSentMemory)
	ctx := context.Background()
	// Line 0 sent, line 1 buffered twice (identical rows), line 2 once.
	logResults(t, p, 0, 1)
	h.clock.step(t)
	logResults(t, p, 1, 2)
	logResults(t, p, 1, 3)
	written, err := p.ReplayFilter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A replayed run of [2, 2]: the first was buffered, the second not.
	var got []bool
	for _, i := range []int{0, 0, 1, 1, 1, 2, 2, 3} {
		got = append(got, written(resultLine(i)))
	}
	if fmt.Sprint(got) != "[true false true true false true false false]" {
		t.Errorf("written %v", got)
	}
}

func TestTLSActivation(t *testing.T) {
	if _, err := New("tls", Config{}); err == nil || !strings.HasPrefix(err.Error(), "Cannot activate tls logger plugin: the tls logger needs the TLS remote client") {
		t.Errorf("without a client: %v", err)
	}
	h := newHarness(t, true)
	if _, err := New("tls", Config{Remote: h.client}); err == nil || !strings.Contains(err.Error(), "needs the database") {
		t.Errorf("without a store: %v", err)
	}
	h.fl.Set("logger_plugin", "filesystem,tls")
	h.fl.Set("logger_path", t.TempDir())
	if _, err := FromFlags(h.fl, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "Cannot activate tls logger plugin") {
		t.Errorf("FromFlags without a client: %v", err)
	}
	pl, err := FromFlagsWith(h.fl, &bytes.Buffer{}, Config{Remote: h.client, Store: h.st})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if h.clock.park(t) != time.Second || pl.Name() != "filesystem,tls" {
		t.Fatalf("plugin %s", pl.Name())
	}
	tp := FindTLS(pl)
	if tp == nil || FindTLS(NewStdout(Config{})) != nil {
		t.Fatal("FindTLS")
	}
	if err := pl.LogResult(context.Background(), resultLine(0)); err != nil {
		t.Fatal(err)
	}
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 1)
}

func TestTLSDisableStatusLog(t *testing.T) {
	h := newHarness(t, true, "--tls_disable_status_log=true")
	p := h.open(DefaultTLSSentMemory)
	if err := p.LogStatus(context.Background(), testStatuses()); err != nil {
		t.Fatal(err)
	}
	logResults(t, p, 0, 1)
	h.clock.step(t)
	if s := p.Stats(); s.BufferedStatuses != 0 || s.DroppedStatusDisabled != 2 || s.SentStatuses != 0 {
		t.Errorf("stats %+v", s)
	}
	reqs := h.srv.Requests(remotetest.LogPath)
	if len(reqs) != 1 || reqs[0].Body["log_type"] != "result" {
		t.Errorf("%d requests", len(reqs))
	}
	// Config options may turn statuses back on.
	h.fl.Set("tls_disable_status_log", "false")
	if err := p.LogStatus(context.Background(), testStatuses()); err != nil {
		t.Fatal(err)
	}
	h.clock.step(t)
	if n := len(h.srv.LogItems("status")); n != 2 {
		t.Errorf("%d statuses sent", n)
	}
}

func TestTLSKeys(t *testing.T) {
	k := tlsKey(kindResult, 1700000000, 42)
	if k != "tls_r_1700000000_00000000000000000042" {
		t.Errorf("key %s", k)
	}
	if tm, n, ok := parseTLSKey(k); !ok || tm != 1700000000 || n != 42 {
		t.Errorf("parse %d %d %v", tm, n, ok)
	}
	// Byte order is arrival order across digit counts and kinds.
	a, b := tlsKey(kindStatus, 999999999, 9), tlsKey(kindResult, 1000000000, 10)
	if keyOrder(a) >= keyOrder(b) {
		t.Errorf("%s sorts after %s", a, b)
	}
	m := tlsMeta{seq: 7, lastTime: 1700000000, count: [2]int64{3, 4}}
	if got, err := decodeTLSMeta(m.encode()); err != nil || got != m {
		t.Errorf("meta round trip %+v %v", got, err)
	}
	for _, bad := range []string{"", "1 2 3", "2 1 1 1 1", "1 x 1 1 1", "1 1 1 -1 1"} {
		if _, err := decodeTLSMeta([]byte(bad)); err == nil {
			t.Errorf("meta %q accepted", bad)
		}
	}
}

func TestTLSLogResults(t *testing.T) {
	h := newHarness(t, true)
	p := h.open(DefaultTLSSentMemory)
	lines := [][]byte{resultLine(0), resultLine(1), resultLine(2)}
	if err := p.LogResults(context.Background(), lines); err != nil {
		t.Fatal(err)
	}
	logResults(t, p, 3, 4)
	if s := p.Stats(); s.BufferedResults != 4 {
		t.Fatalf("stats %+v", s)
	}
	h.clock.step(t)
	wantIndexes(t, h.srv.LogItems("result"), 0, 4)
}
