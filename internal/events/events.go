// Package events is osquery's publish/subscribe framework. Publishers own
// an OS event source (audit netlink, the proc connector); subscribers turn
// what a publisher delivers into rows of an event table and buffer them in
// the store, from which the table is read. The Manager starts what the
// flags and the config enable, expires buffered rows (events_expiry,
// events_max) and counts everything for osquery_events.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// Publisher is an event source.
type Publisher interface {
	// Name is osquery's publisher name (auditeventpublisher, ...).
	Name() string
	// Start sets the source up and begins delivering to its subscribers.
	// It returns once the source runs, or why it could not start.
	Start(ctx context.Context) error
	// Stop ends delivery and undoes what Start changed on the host; it is
	// safe to call twice.
	Stop() error
	// Fired counts the events the publisher has delivered.
	Fired() uint64
}

// PublisherFactory builds a publisher for a manager; Enabled tells from
// the flags whether it should run at all.
type PublisherFactory struct {
	Name    string
	Enabled func(env *table.Env) bool
	New     func(m *Manager) (Publisher, error)
}

var (
	factoriesMu sync.Mutex
	factories   []PublisherFactory
	subscribers []subscriberDef
)

// RegisterPublisher adds a publisher factory; call it from init.
func RegisterPublisher(f PublisherFactory) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	factories = append(factories, f)
}

type subscriberDef struct {
	name, publisher string
}

// Subscriber is an event table's buffer and counters.
type Subscriber struct {
	Name      string
	Publisher string
	manager   *Manager
	buffer    *store.EventStore
	added     atomic.Uint64
	enabled   atomic.Bool
	sinceTrim atomic.Uint64
}

// Active reports whether the subscriber collects (events on, not disabled
// by the config, its publisher running).
func (s *Subscriber) Active() bool {
	if !s.enabled.Load() || s.manager == nil {
		return false
	}
	return s.manager.publisherRunning(s.Publisher)
}

// Events counts rows added since start.
func (s *Subscriber) Events() uint64 { return s.added.Load() }

// Manager runs publishers and owns subscriber buffers.
type Manager struct {
	env *table.Env
	db  *store.DB
	log *slog.Logger

	mu      sync.Mutex
	pubs    map[string]*publisherState
	subs    map[string]*Subscriber
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
	// trims asks the janitor to trim a subscriber's buffer, so inserting
	// events never waits for a DELETE.
	trims chan *Subscriber
}

type publisherState struct {
	factory PublisherFactory
	pub     Publisher
	running bool
	starts  int
	lastErr error
}

type managerKey struct{}

// NewManager creates the process's manager over a store and attaches it to
// env, where event tables find it.
func NewManager(env *table.Env, db *store.DB) *Manager {
	m := &Manager{env: env, db: db, log: env.Log, pubs: map[string]*publisherState{}, subs: map[string]*Subscriber{}, trims: make(chan *Subscriber, 16)}
	factoriesMu.Lock()
	for _, f := range factories {
		m.pubs[f.Name] = &publisherState{factory: f}
	}
	for _, d := range subscribers {
		s := &Subscriber{Name: d.name, Publisher: d.publisher, manager: m}
		s.enabled.Store(true)
		m.subs[d.name] = s
	}
	factoriesMu.Unlock()
	env.SetService(managerKey{}, m)
	return m
}

// FromEnv returns the manager attached to env, or nil when events were
// never started in this process.
func FromEnv(env *table.Env) *Manager {
	m, _ := env.Service(managerKey{}).(*Manager)
	return m
}

// Env returns the environment the manager serves.
func (m *Manager) Env() *table.Env { return m.env }

// Subscriber returns the named subscriber, or nil.
func (m *Manager) Subscriber(name string) *Subscriber {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.subs[name]
}

// SetEnabled applies the config's "events" section: enable_subscribers
// first re-enables, disable_subscribers is the final say.
func (m *Manager) SetEnabled(enable, disable []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, s := range m.subs {
		on := true
		if slices.Contains(enable, name) {
			on = true
		}
		if slices.Contains(disable, name) {
			on = false
		}
		s.enabled.Store(on)
	}
}

func (m *Manager) publisherRunning(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pubs[name]
	return p != nil && p.running
}

// Start starts every publisher the flags enable and that has an enabled
// subscriber, unless --disable_events. A publisher that fails to start is
// logged and left out (osquery disables it); the others run.
func (m *Manager) Start(ctx context.Context) error {
	if m.env.Flags.Bool("disable_events") {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return fmt.Errorf("events: manager already stopped")
	}
	for _, s := range m.subs {
		buf, err := m.db.Events(s.Name)
		if err != nil {
			return fmt.Errorf("events: open buffer for %s: %w", s.Name, err)
		}
		s.buffer = buf
	}
	for name, p := range m.pubs {
		if !p.factory.Enabled(m.env) || !m.hasEnabledSubscriberLocked(name) {
			continue
		}
		pub, err := p.factory.New(m)
		if err == nil {
			err = pub.Start(ctx)
		}
		p.starts++
		if err != nil {
			p.lastErr = err
			m.log.Warn(fmt.Sprintf("Event publisher %s failed to start: %v", name, err))
			continue
		}
		p.pub, p.running = pub, true
	}
	bg, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.janitor(bg)
	return nil
}

func (m *Manager) hasEnabledSubscriberLocked(publisher string) bool {
	for _, s := range m.subs {
		if s.Publisher == publisher && s.enabled.Load() {
			return true
		}
	}
	return false
}

// Stop stops every publisher (undoing their host changes) and flushes the
// buffers. Safe to call twice.
func (m *Manager) Stop() error {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil
	}
	m.stopped = true
	running := map[string]*publisherState{}
	for name, p := range m.pubs {
		if p.running {
			running[name] = p
		}
	}
	cancel, done := m.cancel, m.done
	subs := make([]*Subscriber, 0, len(m.subs))
	for _, s := range m.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	// Publishers are stopped without the lock: stopping waits for their
	// delivery goroutine, which looks subscribers up.
	var errs []error
	for name, p := range running {
		if err := p.pub.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
		}
		m.mu.Lock()
		p.running = false
		m.mu.Unlock()
	}
	if cancel != nil {
		cancel()
		<-done
	}
	for _, s := range subs {
		if s.buffer != nil {
			if err := s.buffer.Flush(context.Background()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("events: %v", errs)
	}
	return nil
}

// janitor expires buffered events on a timer as well as every 256 inserts
// (Add), so an idle subscriber's old rows still go.
func (m *Manager) janitor(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-m.trims:
			s.trim(ctx)
		case <-t.C:
			m.mu.Lock()
			subs := make([]*Subscriber, 0, len(m.subs))
			for _, s := range m.subs {
				subs = append(subs, s)
			}
			m.mu.Unlock()
			for _, s := range subs {
				s.trim(ctx)
			}
		}
	}
}

func (m *Manager) requestTrim(s *Subscriber) {
	select {
	case m.trims <- s:
	default: // a trim is pending already
	}
}

// trim applies events_expiry and events_max to the subscriber's buffer.
func (s *Subscriber) trim(ctx context.Context) {
	if s.buffer == nil {
		return
	}
	fl := s.manager.env.Flags
	if expiry := fl.Int("events_expiry"); expiry > 0 {
		before := s.manager.env.Now().Unix() - expiry
		if _, err := s.buffer.Expire(ctx, before); err != nil {
			s.manager.log.Warn(fmt.Sprintf("events: expire %s: %v", s.Name, err))
		}
	}
	if max := fl.Int("events_max"); max > 0 {
		n, err := s.buffer.LimitBatches(ctx, int(max))
		if err != nil {
			s.manager.log.Warn(fmt.Sprintf("events: limit %s: %v", s.Name, err))
		} else if n > 0 {
			s.manager.log.Warn(fmt.Sprintf("Removed %d event batches for subscriber: %s (limit: %d)", n, s.Name, max))
		}
	}
}

// PublisherInfo is a row of osquery_events for a publisher.
type PublisherInfo struct {
	Name          string
	Subscriptions int
	Events        uint64
	Refreshes     int
	Active        bool
}

// SubscriberInfo is a row of osquery_events for a subscriber.
type SubscriberInfo struct {
	Name      string
	Publisher string
	Events    uint64
	Active    bool
}

// Publishers describes every known publisher.
func (m *Manager) Publishers() []PublisherInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PublisherInfo
	for name, p := range m.pubs {
		info := PublisherInfo{Name: name, Active: p.running, Refreshes: max(p.starts-1, 0)}
		for _, s := range m.subs {
			if s.Publisher == name && s.enabled.Load() {
				info.Subscriptions++
			}
		}
		if p.pub != nil {
			info.Events = p.pub.Fired()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PublisherInfo) int { return cmpString(a.Name, b.Name) })
	return out
}

// Subscribers describes every subscriber.
func (m *Manager) Subscribers() []SubscriberInfo {
	m.mu.Lock()
	subs := make([]*Subscriber, 0, len(m.subs))
	for _, s := range m.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	out := make([]SubscriberInfo, 0, len(subs))
	for _, s := range subs {
		out = append(out, SubscriberInfo{Name: s.Name, Publisher: s.Publisher, Events: s.Events(), Active: s.Active()})
	}
	slices.SortFunc(out, func(a, b SubscriberInfo) int { return cmpString(a.Name, b.Name) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Registered lists the publishers and subscribers built into the binary,
// for osquery_events when no manager runs (events disabled).
func Registered() (pubs []PublisherInfo, subs []SubscriberInfo) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	for _, f := range factories {
		n := 0
		for _, d := range subscribers {
			if d.publisher == f.Name {
				n++
			}
		}
		pubs = append(pubs, PublisherInfo{Name: f.Name, Subscriptions: n})
	}
	for _, d := range subscribers {
		subs = append(subs, SubscriberInfo{Name: d.name, Publisher: d.publisher})
	}
	slices.SortFunc(pubs, func(a, b PublisherInfo) int { return cmpString(a.Name, b.Name) })
	slices.SortFunc(subs, func(a, b SubscriberInfo) int { return cmpString(a.Name, b.Name) })
	return pubs, subs
}

// Running reports whether any publisher runs.
func (m *Manager) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pubs {
		if p.running {
			return true
		}
	}
	return false
}

// LimitProcs runs the Go scheduler on one processor while publishers
// collect, unless GOMAXPROCS is set: the event path is a chain of
// goroutines handing records along, and with several processors each hand-off
// wakes another thread. Measured under an exec storm on 2 vCPUs, one
// processor costs about 15% less CPU per event, and an agent should not
// spread over every core anyway.
func (m *Manager) LimitProcs() {
	if os.Getenv("GOMAXPROCS") == "" && m.Running() {
		runtime.GOMAXPROCS(1)
	}
}
