// Package carvertest runs a real carver for tests: a remotetest HTTPS
// server, an enrolled TLS client, an in-memory store, a settable clock and
// the carver's Run loop, all stopped when the test ends. It imports neither
// the SQL engine nor the tables, so their tests can use it.
package carvertest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Harness is a running carver and the server it uploads to.
type Harness struct {
	Server *remotetest.Server
	Client *remote.Client
	Store  *store.DB
	Flags  *flags.Set
	Carver *carver.Carver
	// Env has the Default table registry and the carver attached.
	Env *table.Env
	// TempDir is where the carver makes its private directories.
	TempDir string
	Clock   *Clock

	mu     sync.Mutex
	sleeps []time.Duration
}

// Options shape a harness.
type Options struct {
	// Args are flags after the defaults (the server's endpoints,
	// --disable_carver=false and an enroll secret).
	Args []string
	// NoRun leaves the Run loop stopped.
	NoRun bool
	// Log receives the carver's and the client's logs; nil discards.
	Log *slog.Logger
}

// Start starts a server and a carver pointed at it.
func Start(t testing.TB, o Options) *Harness {
	t.Helper()
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "carve-secret"})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("carve-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := flags.Standard()
	args := append(srv.Flags(), "--enroll_secret_path="+secret, "--tls_enroll_max_attempts=1", "--disable_carver=false")
	if _, err := fl.Parse(append(args, o.Args...)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Harness{Server: srv, Store: st, Flags: fl, Clock: &Clock{now: time.Unix(1_750_000_000, 0)}}
	h.TempDir = filepath.Join(dir, "tmp")
	if err := os.Mkdir(h.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.Client = remote.New(remote.Options{
		Flags: fl, Store: st, Log: log,
		HostIdentifier: func() string { return "carve-host" },
		// Retries are counted, not waited for.
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return ctx.Err()
		},
		Timeout: 10 * time.Second,
	})
	h.Carver = carver.New(carver.Options{Client: h.Client, Store: st, Flags: fl, Log: log, Now: h.Clock.Now,
		TempDir: h.TempDir, Interval: time.Hour})
	h.Env = table.HostEnv(fl, table.Default, log)
	h.Env.Now = h.Clock.Now
	h.Carver.Attach(h.Env)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if o.NoRun {
		close(done)
	} else {
		go func() {
			defer close(done)
			if err := h.Carver.Run(ctx); err != nil {
				t.Errorf("carver Run: %v", err)
			}
		}()
	}
	// Cleanups run last-in first-out: Run stops before the store closes.
	t.Cleanup(func() { st.Close() })
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// Sleeps returns the retry waits asked for so far.
func (h *Harness) Sleeps() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

// Wait polls until the carve guid has finished and returns its record.
func (h *Harness) Wait(t testing.TB, guid string, timeout time.Duration) carver.Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, ok, err := h.Carver.Get(context.Background(), guid)
		if err != nil {
			t.Fatal(err)
		}
		if ok && r.Finished() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("carve %s not finished after %v: %+v (found %v)", guid, timeout, r, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TempEntries lists what the carver left in its temporary directory.
func (h *Harness) TempEntries(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(h.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
