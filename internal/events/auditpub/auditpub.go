// Package auditpub is osquery's auditeventpublisher: it runs the audit
// netlink source with the rules the audit_allow_* flags ask for and hands
// every reassembled event to the audit subscribers (process_events, ...).
// Alongside it runs the proc connector, whose fork and exit events keep the
// process ancestry cache complete for processes that fork without exec.
package auditpub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosquery/gosquery/internal/ancestry"
	"github.com/gosquery/gosquery/internal/audit"
	"github.com/gosquery/gosquery/internal/events"
	"github.com/gosquery/gosquery/internal/procconn"
	"github.com/gosquery/gosquery/internal/table"
)

// Name is osquery's name for the audit publisher.
const Name = "auditeventpublisher"

// Handler receives each audit event for a subscriber.
type Handler func(ctx context.Context, m *events.Manager, ev *audit.Event)

type subscription struct {
	name    string
	handler Handler
}

var (
	subsMu sync.Mutex
	subs   []subscription
)

// Subscribe registers a subscriber's handler; call it from init.
func Subscribe(name string, h Handler) {
	subsMu.Lock()
	defer subsMu.Unlock()
	subs = append(subs, subscription{name, h})
}

func init() {
	events.RegisterPublisher(events.PublisherFactory{Name: Name, Enabled: enabled, New: newPublisher})
}

// enabled is osquery's rule: audit on, and at least one audit_allow_*
// feature that this build has a subscriber for.
func enabled(env *table.Env) bool {
	fl := env.Flags
	return !fl.Bool("disable_audit") && fl.Bool("audit_allow_process_events")
}

// Syscalls returns the syscalls to audit for the flags, osquery's set.
func Syscalls(env *table.Env) []string {
	fl := env.Flags
	var sc []string
	if fl.Bool("audit_allow_process_events") {
		sc = append(sc, "execve", "execveat")
		if fl.Bool("audit_allow_fork_process_events") {
			sc = append(sc, "clone", "fork", "vfork")
		}
		if fl.Bool("audit_allow_kill_process_events") {
			sc = append(sc, "kill", "tkill", "tgkill")
		}
	}
	return sc
}

// Publisher runs the audit source and the proc connector.
type Publisher struct {
	m      *events.Manager
	src    *audit.Source
	conn   *procconn.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
	fired  atomic.Uint64
	once   sync.Once
	err    error
}

type publisherKey struct{}

// FromEnv returns the running publisher, or nil.
func FromEnv(env *table.Env) *Publisher {
	p, _ := env.Service(publisherKey{}).(*Publisher)
	return p
}

func newPublisher(m *events.Manager) (events.Publisher, error) {
	return &Publisher{m: m}, nil
}

// Name implements events.Publisher.
func (p *Publisher) Name() string { return Name }

// Fired implements events.Publisher.
func (p *Publisher) Fired() uint64 { return p.fired.Load() }

// Start opens the audit source (taking the daemon slot or reading the
// multicast group, installing our rules) and the proc connector, and
// starts delivering.
func (p *Publisher) Start(ctx context.Context) error {
	env := p.m.Env()
	fl := env.Flags
	src, err := audit.Open(ctx, audit.Config{
		AllowConfig:      fl.Bool("audit_allow_config"),
		ForceReconfigure: fl.Bool("audit_force_reconfigure"),
		Persist:          fl.Bool("audit_persist"),
		Syscalls:         Syscalls(env),
		BacklogLimit:     int(fl.Int("audit_backlog_limit")),
		BacklogWaitTime:  int(fl.Int("audit_backlog_wait_time")),
		Logger:           env.Log,
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	p.src = src
	env.SetService(publisherKey{}, p)
	run, cancel := context.WithCancel(context.Background())
	p.cancel = cancel

	cache := ancestry.ForEnv(env)
	if cache.Enabled() {
		// Exec comes from audit; forks and exits are all the cache needs here.
		conn, err := procconn.ListenFor(ctx, procconn.Fork|procconn.Exit)
		if err != nil {
			// Ancestry still works from exec events and /proc; processes
			// that fork without exec and exit quickly lose their node.
			env.Log.Warn("process ancestry: proc connector unavailable, fork and exit events will be missing: " + err.Error())
			cache.SetSource("none: " + err.Error())
		} else {
			cache.SetSource("proc_connector")
			p.conn = conn
			cache.SetCatchUp(catchUp(conn))
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				conn.Run(run, func(e procconn.Event) { feedAncestry(cache, e) })
			}()
		}
	}

	subsMu.Lock()
	handlers := append([]subscription(nil), subs...)
	subsMu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		src.Run(run, func(ev audit.Event) {
			p.fired.Add(1)
			for _, s := range handlers {
				if sub := p.m.Subscriber(s.name); sub != nil && sub.Active() {
					s.handler(run, p.m, &ev)
				}
			}
		})
	}()
	return nil
}

// syncTimeout is the longest one exec waits for the proc connector's
// queued events; they are normally applied within a millisecond. A
// consumer that fell behind further is not waited for again until it has
// caught up (procconn.Listener.SyncSince).
const syncTimeout = 10 * time.Millisecond

// catchUp is the ancestry cache's catch-up (Cache.SetCatchUp) on the proc
// connector: every fork and exit queued before the exec was received is
// applied first. Idle, that is one poll of the socket; under an exec storm
// the execs of one audit burst share one receive round of the connector.
func catchUp(conn *procconn.Listener) ancestry.CatchUp {
	return func(received time.Time) bool { return conn.SyncSince(received, syncTimeout) }
}

// feedAncestry records forks and exits of processes (not threads).
func feedAncestry(cache *ancestry.Cache, e procconn.Event) {
	if e.IsThread() {
		return
	}
	switch e.Kind {
	case procconn.Fork:
		cache.Fork(e.ParentTGID, e.ChildTGID, time.Duration(e.BootNS))
	case procconn.Exit:
		cache.Exit(e.TGID, e.Ticks)
	}
}

// Stop removes our audit rules, gives audit back as it was, and stops the
// proc connector. Events already received are delivered first.
func (p *Publisher) Stop() error {
	p.once.Do(func() {
		if p.src != nil {
			p.err = p.src.Close()
		}
		if p.conn != nil {
			ancestry.ForEnv(p.m.Env()).SetCatchUp(nil)
			p.conn.Close()
		}
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
	})
	return p.err
}

// Stats returns the audit source's counters and whether it runs.
func (p *Publisher) Stats() (audit.Stats, bool) {
	if p == nil || p.src == nil {
		return audit.Stats{}, false
	}
	return p.src.Stats(), true
}

// ConnStats returns the proc connector's counters, if it runs.
func (p *Publisher) ConnStats() (procconn.Stats, bool) {
	if p == nil || p.conn == nil {
		return procconn.Stats{}, false
	}
	return p.conn.Stats(), true
}
