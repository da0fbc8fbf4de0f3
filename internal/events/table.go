package events

import (
	"context"
	"maps"
	"strconv"
	"sync"

	"github.com/gosquery/gosquery/internal/table"
)

// Table is an event table: rows of type R are buffered by its subscriber
// as events arrive and read back when the table is queried.
type Table[R any] struct {
	spec table.Spec
	// stamp sets the row's time and eid columns from the buffer.
	stamp func(r *R, time int64, eid uint64)
}

// NewTable registers an event table fed by publisher. Its spec must have a
// `time` column (additional) and a hidden `eid`; stamp fills them when rows
// are read back.
func NewTable[R any](spec table.Spec, publisher string, stamp func(r *R, time int64, eid uint64)) *Table[R] {
	spec.Attributes |= table.EventSubscriber
	t := &Table[R]{spec: spec, stamp: stamp}
	factoriesMu.Lock()
	subscribers = append(subscribers, subscriberDef{name: spec.Name, publisher: publisher})
	factoriesMu.Unlock()
	table.Register(spec, t.generate)
	return t
}

// Spec returns the table's spec.
func (t *Table[R]) Spec() *table.Spec { return &t.spec }

// Add buffers rows in m's subscriber, all stamped with the current time as
// their batch time (osquery's: the time they were processed). Rows are
// dropped only when the subscriber is disabled.
func (t *Table[R]) Add(ctx context.Context, m *Manager, rows ...R) error {
	s := m.Subscriber(t.spec.Name)
	if s == nil || s.buffer == nil || !s.enabled.Load() {
		return nil
	}
	enc := make([][]byte, len(rows))
	for i := range rows {
		b, err := table.EncodeRow(nil, &t.spec, &rows[i])
		if err != nil {
			return err
		}
		enc[i] = b
	}
	if err := s.buffer.AddAsync(m.env.Now().Unix(), enc); err != nil {
		return err
	}
	s.added.Add(uint64(len(rows)))
	// osquery checks expiry every 256 inserts.
	if s.sinceTrim.Add(uint64(len(rows))) >= 256 {
		s.sinceTrim.Store(0)
		m.requestTrim(s)
	}
	return nil
}

// generate reads the buffer, within the time range the query constrains
// (osquery pushes time =, >, >=, <, <= down to the buffer).
func (t *Table[R]) generate(ctx context.Context, q *table.Query, emit func(R)) error {
	m := FromEnv(q.Env)
	if m == nil {
		return nil
	}
	s := m.Subscriber(t.spec.Name)
	if s == nil || s.buffer == nil {
		return nil
	}
	// Rows accepted a moment ago are visible to the next query.
	if err := s.buffer.Flush(ctx); err != nil {
		return err
	}
	from, to := TimeRange(q)
	if from > to && to >= 0 {
		return nil
	}
	// A scheduled query without a time constraint reads only new events;
	// with one, the user asked for a range and gets all of it (osquery).
	var after uint64
	opt := optimizerFrom(ctx)
	if opt != nil && (from >= 0 || to >= 0) {
		opt = nil
	}
	if opt != nil {
		after = opt.start(t.spec.Name)
	}
	return s.buffer.Scan(ctx, from, to, after, func(eid uint64, tm int64, b []byte) bool {
		if opt != nil {
			opt.saw(t.spec.Name, eid)
		}
		var r R
		if err := table.DecodeRow(b, &t.spec, &r); err != nil {
			q.Env.Log.Debug("events: skipping undecodable row", "table", t.spec.Name, "eid", eid, "err", err)
			return ctx.Err() == nil
		}
		t.stamp(&r, tm, eid)
		emit(r)
		return ctx.Err() == nil
	})
}

// TimeRange turns the query's constraints on `time` into an inclusive
// range; -1 marks an open end.
func TimeRange(q *table.Query) (from, to int64) {
	from, to = -1, -1
	for _, c := range q.Constraints("time") {
		v, err := strconv.ParseInt(c.Expr, 10, 64)
		if err != nil {
			continue
		}
		lower := func(x int64) {
			if from < 0 || x > from {
				from = x
			}
		}
		upper := func(x int64) {
			if to < 0 || x < to {
				to = x
			}
		}
		switch c.Op {
		case table.OpEq:
			lower(v)
			upper(v)
		case table.OpGt:
			lower(v + 1)
		case table.OpGe:
			lower(v)
		case table.OpLt:
			upper(v - 1)
		case table.OpLe:
			upper(v)
		}
	}
	return from, to
}

// Optimizer makes a scheduled query read only the events it has not seen
// (osquery's events_optimize): the scheduler puts one in the query's
// context with the last event id it logged per table, the table reads
// after it and reports the newest id it returned, and the scheduler
// stores that once the results are logged, so a crash in between re-reads
// rather than loses events.
type Optimizer struct {
	mu    sync.Mutex
	after map[string]uint64
	seen  map[string]uint64
}

type optimizerKey struct{}

// WithOptimizer returns ctx carrying an optimizer that starts after the
// given event ids (by table name).
func WithOptimizer(ctx context.Context, after map[string]uint64) (context.Context, *Optimizer) {
	o := &Optimizer{after: after, seen: map[string]uint64{}}
	return context.WithValue(ctx, optimizerKey{}, o), o
}

func optimizerFrom(ctx context.Context) *Optimizer {
	o, _ := ctx.Value(optimizerKey{}).(*Optimizer)
	return o
}

// Seen returns the newest event id returned per table.
func (o *Optimizer) Seen() map[string]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.seen)
}

func (o *Optimizer) start(name string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.after[name]
}

func (o *Optimizer) saw(name string, eid uint64) {
	o.mu.Lock()
	if eid > o.seen[name] {
		o.seen[name] = eid
	}
	o.mu.Unlock()
}
