// Package schedule is osquery's scheduler: it runs the configured queries
// on wall-clock-aligned, splayed intervals, computes differential results
// against the previous run (persisted in the store, so a restart carries
// on), reads only new events for event queries, applies decorators and
// hands formatted lines to the logger plugins.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// Stats are a query's performance counters, as osquery_schedule shows them.
type Stats struct {
	Executions      uint64
	LastExecuted    int64
	WallTimeMS      uint64
	LastWallTimeMS  uint64
	UserTimeMS      uint64
	LastUserTimeMS  uint64
	SystemTimeMS    uint64
	LastSystemTime  uint64
	AverageMemory   uint64
	LastMemory      uint64
	OutputSize      uint64
	Denylisted      bool
	Errors          uint64
	LastError       string
	SplayedInterval uint64
}

type queryState struct {
	*config.Query
	splayed uint64
	stats   Stats
}

// Scheduler runs the schedule. Its methods are safe for concurrent use.
type Scheduler struct {
	env    *table.Env
	db     *sqlengine.DB
	store  *store.DB
	log    logger.Plugin
	status *slog.Logger
	hostID func() string
	rand   *rand.Rand

	mu         sync.Mutex
	queries    map[string]*queryState
	packs      []*config.Pack
	decorators decorators
	loadDecs   []logger.Decoration
	intervalD  map[uint64][]logger.Decoration
	// running serialises query execution with configuration changes.
	running sync.Mutex
}

type serviceKey struct{}

// New returns a scheduler logging through plugin. hostID returns the
// current host identifier.
func New(env *table.Env, db *sqlengine.DB, st *store.DB, plugin logger.Plugin, hostID func() string) *Scheduler {
	s := &Scheduler{env: env, db: db, store: st, log: plugin, status: env.Log, hostID: hostID,
		rand:    rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))),
		queries: map[string]*queryState{}, intervalD: map[uint64][]logger.Decoration{}}
	env.SetService(serviceKey{}, s)
	return s
}

// FromEnv returns the scheduler running in this process, or nil.
func FromEnv(env *table.Env) *Scheduler {
	s, _ := env.Service(serviceKey{}).(*Scheduler)
	return s
}

// decorators are the config's decorator queries, merged across sources.
type decorators struct {
	load, always []string
	interval     map[uint64][]string
}

// Configure replaces the schedule, packs and decorators with the config's
// (a config load or reload). A query keeps its splayed interval while its
// interval is unchanged; the load decorators run now.
func (s *Scheduler) Configure(ctx context.Context, cfg *config.Config) {
	s.running.Lock()
	defer s.running.Unlock()
	dec := decorators{interval: map[uint64][]string{}}
	for _, d := range cfg.Decorators {
		dec.load = append(dec.load, d.Load...)
		dec.always = append(dec.always, d.Always...)
		for _, iv := range d.Interval {
			dec.interval[iv.Seconds] = append(dec.interval[iv.Seconds], iv.Queries...)
		}
	}
	next := map[string]*queryState{}
	s.mu.Lock()
	for _, q := range cfg.ScheduledQueries() {
		qs := &queryState{Query: q}
		if old, ok := s.queries[q.Name]; ok {
			qs.stats = old.stats
		}
		next[q.Name] = qs
	}
	s.queries = next
	s.packs = cfg.Packs
	s.decorators = dec
	s.mu.Unlock()
	for _, qs := range next {
		qs.splayed = s.splay(ctx, qs.Name, qs.Interval)
		qs.stats.SplayedInterval = qs.splayed
	}
	decs := s.runDecorators(ctx, dec.load)
	s.mu.Lock()
	s.loadDecs = decs
	s.intervalD = map[uint64][]logger.Decoration{}
	s.mu.Unlock()
}

// splay returns the interval a query really runs at: a random value within
// ±schedule_splay_percent of its interval, so that hosts configured alike
// do not all run a query in the same second. It is persisted (osquery's
// configurations key interval.<name>) and kept while the interval stays.
func (s *Scheduler) splay(ctx context.Context, name string, interval uint64) uint64 {
	key := "interval." + name
	if b, ok, err := s.store.Get(ctx, store.DomainConfigurations, key); err == nil && ok {
		if v, ok := config.ParseStoredSplay(string(b), interval); ok {
			return v
		}
	}
	splayed := config.SplayInterval(interval, uint64(s.env.Flags.Int("schedule_splay_percent")), s.rand)
	if err := s.store.Put(ctx, store.DomainConfigurations, key, []byte(config.FormatStoredSplay(interval, splayed))); err != nil {
		s.status.Warn("Cannot persist the splayed interval of " + name + ": " + err.Error())
	}
	return splayed
}

// Run is the scheduler loop: once a second it runs every query whose
// splayed interval divides the unix time, like osquery, after first running
// the startup-priority queries. It returns when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	for _, name := range s.startupQueries() {
		if ctx.Err() != nil {
			return nil
		}
		s.RunQuery(ctx, name, time.Now())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now().Unix()
	timeout := s.env.Flags.Int("schedule_timeout")
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if timeout > 0 && now.Sub(start) > time.Duration(timeout)*time.Second {
				return nil
			}
			// Catch up on seconds a slow query overran, up to
			// schedule_max_drift, so no interval boundary is skipped.
			t := now.Unix()
			from := last + 1
			if drift := s.env.Flags.Int("schedule_max_drift"); t-from > drift {
				from = t - drift
			}
			for sec := from; sec <= t; sec++ {
				s.tick(ctx, sec)
			}
			last = t
		}
	}
}

func (s *Scheduler) startupQueries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var qs []*queryState
	for _, q := range s.queries {
		if q.RunsAtStartup() {
			qs = append(qs, q)
		}
	}
	slices.SortFunc(qs, func(a, b *queryState) int {
		if a.StartupPriority != b.StartupPriority {
			if a.StartupPriority < b.StartupPriority {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	return names
}

func (s *Scheduler) tick(ctx context.Context, t int64) {
	if t%60 == 0 {
		s.runIntervalDecorators(ctx, t)
	}
	s.mu.Lock()
	var due []string
	for name, q := range s.queries {
		if q.splayed > 0 && uint64(t)%q.splayed == 0 {
			due = append(due, name)
		}
	}
	s.mu.Unlock()
	slices.Sort(due)
	for _, name := range due {
		if ctx.Err() != nil {
			return
		}
		s.RunQuery(ctx, name, time.Unix(t, 0))
	}
}

// runDecorators runs decorator queries; only the first row of each is used
// and every column becomes a decoration (a later name wins).
func (s *Scheduler) runDecorators(ctx context.Context, queries []string) []logger.Decoration {
	var decs []logger.Decoration
	for _, sql := range queries {
		res, err := s.db.Query(ctx, sql)
		if err != nil {
			s.status.Warn(fmt.Sprintf("Decorator query failed: %s: %v", sql, err))
			continue
		}
		if len(res.Rows) == 0 {
			continue
		}
		if len(res.Rows) > 1 {
			s.status.Warn("Decorator query returned more than one row: " + sql)
		}
		for i, v := range res.Rows[0] {
			decs = append(decs, logger.Decoration{Name: res.Columns[i], Value: v.String()})
		}
	}
	return decs
}

func (s *Scheduler) runIntervalDecorators(ctx context.Context, t int64) {
	s.mu.Lock()
	intervals := s.decorators.interval
	s.mu.Unlock()
	for every, queries := range intervals {
		if every == 0 || uint64(t)%every != 0 {
			continue
		}
		decs := s.runDecorators(ctx, queries)
		s.mu.Lock()
		s.intervalD[every] = decs
		s.mu.Unlock()
	}
}

// StoredDecorations are the load and interval decorations last computed,
// without running any query: what buffered status lines carry (osquery
// attaches its stored decorations to them, not fresh "always" ones).
func (s *Scheduler) StoredDecorations() []logger.Decoration {
	if s.env.Flags.Bool("disable_decorators") {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	decs := slices.Clone(s.loadDecs)
	for _, d := range s.intervalD {
		decs = append(decs, d...)
	}
	return decs
}

// decorations gathers load, interval and always decorations for a line.
func (s *Scheduler) decorations(ctx context.Context) []logger.Decoration {
	if s.env.Flags.Bool("disable_decorators") {
		return nil
	}
	decs := s.StoredDecorations()
	s.mu.Lock()
	always := s.decorators.always
	s.mu.Unlock()
	return append(decs, s.runDecorators(ctx, always)...)
}

func cpuMS() (user, sys uint64, rssKB uint64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, 0
	}
	return uint64(ru.Utime.Sec*1000 + ru.Utime.Usec/1000), uint64(ru.Stime.Sec*1000 + ru.Stime.Usec/1000), uint64(ru.Maxrss)
}

// packActive evaluates a pack's discovery queries (cached for
// pack_refresh_interval): a query of an inactive pack does not run.
func (s *Scheduler) packActive(ctx context.Context, p *config.Pack) bool {
	if p == nil {
		return true
	}
	refresh := uint64(s.env.Flags.Int("pack_refresh_interval"))
	active, warns := p.CheckDiscovery(time.Now().Unix(), refresh, func(sql string) (int, error) {
		res, err := s.db.Query(ctx, sql)
		if err != nil {
			return 0, err
		}
		return len(res.Rows), nil
	})
	for _, w := range warns {
		s.status.Warn(w.Message)
	}
	return active
}

// Packs lists the loaded packs.
func (s *Scheduler) Packs() []*config.Pack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.packs)
}
