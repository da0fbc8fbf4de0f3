// Package distributed owns osquery's distributed (live) queries over the
// TLS remote API: the loop that reads queries from
// --distributed_tls_read_endpoint, gates them on their discovery queries,
// queues them in the store, runs them (denylisting SQL that a dead worker
// was running), and writes the results to --distributed_tls_write_endpoint,
// keeping them in memory and in the store until a write succeeds. It is
// osquery's distributed.cpp, distributed_runner.cpp and
// tls_distributed.cpp.
package distributed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
)

// AccelerateKey is osquery's key (domain configurations) holding the unix
// time until which check-ins are accelerated.
const AccelerateKey = "distributed_accelerate_checkins_expire"

// AcceleratedInterval is the poll period while accelerated (osquery's
// kDistributedAccelerationInterval).
const AcceleratedInterval = 5 * time.Second

// DenylistedMessage is the message of a denylisted query's result.
const DenylistedMessage = "distributed query is denylisted"

// Options are what the runner needs from the daemon.
type Options struct {
	// Client talks to the server: node key, enrollment, success rules.
	Client *remote.Client
	// DB runs the queries; its Env's ProcRoot is where the runner reads
	// its own memory use.
	DB *sqlengine.DB
	// Store holds the queue, the running markers, the acceleration expiry
	// and the results not yet written.
	Store *store.DB
	// Flags are read at every iteration.
	Flags *flags.Set
	Log   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Sleep waits between iterations; nil sleeps for real, cut short by
	// ctx. Tests record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Runner is the distributed query loop. Its methods are safe to call from
// other goroutines while Run runs, but only one Run or RunOnce may run at
// a time.
type Runner struct {
	o Options

	loop sync.Mutex // one iteration at a time
	// Owned by the iteration (loop held).
	pending *pendingResults
	loaded  bool

	mu    sync.Mutex
	stats Stats
}

// Stats are the runner's counters, for an osquery_info-style view.
type Stats struct {
	// Reads counts read requests answered; ReadFailures those that failed
	// after every attempt; Rejected the answers refused for their shape or
	// a discovery error.
	Reads, ReadFailures, Rejected int64
	// QueriesRead counts queries accepted from the server (queued);
	// DiscoverySkipped those whose discovery query returned no rows.
	QueriesRead, DiscoverySkipped int64
	// Executed counts queries run (Errors of them failed); Denylisted those
	// answered as denylisted instead of running.
	Executed, Errors, Denylisted int64
	// Writes counts successful writes; WriteFailures failed ones (after
	// every attempt).
	Writes, WriteFailures int64
	// PendingResults and PendingBytes are the results waiting to be
	// written and the size of their rows.
	PendingResults int
	PendingBytes   int
	// AcceleratedUntil is the end of the acceleration the server asked for
	// (zero if never).
	AcceleratedUntil time.Time
	// LastError is the last failure of any step, and when it happened.
	LastError     string
	LastErrorTime time.Time
}

// New returns a runner; nothing happens until Run or RunOnce.
func New(o Options) *Runner {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = remote.SleepContext
	}
	return &Runner{o: o, pending: newPending()}
}

// Stats returns the counters so far.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Runner) count(fn func(*Stats)) {
	r.mu.Lock()
	fn(&r.stats)
	r.mu.Unlock()
}

func (r *Runner) fail(err error) {
	now := r.o.Now()
	r.count(func(s *Stats) { s.LastError, s.LastErrorTime = err.Error(), now })
}

// Run is the loop: an iteration (read, execute, write, cleanup) every
// --distributed_interval seconds, or every 5 s while the server's
// acceleration lasts. It returns nil when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		r.RunOnce(ctx)
		if ctx.Err() != nil {
			break
		}
		if err := r.o.Sleep(ctx, r.Interval(ctx)); err != nil {
			break
		}
	}
	return nil
}

// Interval is the wait before the next iteration: 5 s while accelerated,
// else --distributed_interval seconds. osquery loops without a pause when
// the flag is 0; here the wait is at least a second, so a bad flag cannot
// turn the loop into a flood of requests.
func (r *Runner) Interval(ctx context.Context) time.Duration {
	if until, ok := r.acceleratedUntil(ctx); ok && !r.o.Now().After(until) {
		return AcceleratedInterval
	}
	return max(time.Duration(r.o.Flags.Int("distributed_interval"))*time.Second, time.Second)
}

func (r *Runner) acceleratedUntil(ctx context.Context) (time.Time, bool) {
	b, ok, err := r.o.Store.Get(ctx, store.DomainConfigurations, AccelerateKey)
	if err != nil || !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// RunOnce is one iteration: read new queries, run what is queued, write
// the results (with those of earlier failed writes), and forget expired
// running markers. A failed step is logged and counted and does not stop
// the later ones; the errors are returned joined.
func (r *Runner) RunOnce(ctx context.Context) error {
	r.loop.Lock()
	defer r.loop.Unlock()
	var errs []error
	if !r.loaded {
		if err := r.loadPending(ctx); err != nil {
			errs = append(errs, err)
		} else {
			r.loaded = true
		}
	}
	if err := r.read(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.runQueued(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.write(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.cleanupExpired(ctx); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil && ctx.Err() == nil {
		r.fail(err)
	}
	return err
}

func (r *Runner) setPendingStats() {
	n, size := r.pending.count(), r.pending.rowBytes()
	r.count(func(s *Stats) { s.PendingResults, s.PendingBytes = n, size })
}

// truncate quotes s for a log line, shortened: a hostile server's 5 MB id
// must not become a 5 MB warning.
func truncate(s string) string {
	const n = 80
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// clip shortens s to about n bytes for a log line, unquoted.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + fmt.Sprintf("... (%d bytes)", len(s))
}
