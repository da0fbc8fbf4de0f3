package schedule

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/events"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// Keys in the queries domain, as osquery names them: the last results
// under the query name, and its epoch and counter.
func resultsKey(name string) string { return name }
func epochKey(name string) string   { return name + "epoch" }
func counterKey(name string) string { return name + "counter" }

// pendingKey holds lines committed but not yet confirmed written, so that a
// crash between the two is replayed at start instead of losing the lines.
func pendingKey(name string) string { return "pending." + name }

// optimizeKey holds, per event table, the newest event id a scheduled query
// has logged (osquery's optimize_eid.<query>).
func optimizeKey(name, tbl string) string { return "optimize_eid." + name + "." + tbl }

// ErrUnknownQuery is returned by RunQuery for a name not in the schedule.
var ErrUnknownQuery = errors.New("no such scheduled query")

// RunQuery runs one scheduled query now and logs its results.
func (s *Scheduler) RunQuery(ctx context.Context, name string, now time.Time) error {
	s.running.Lock()
	defer s.running.Unlock()
	s.mu.Lock()
	q, ok := s.queries[name]
	s.mu.Unlock()
	if !ok {
		return ErrUnknownQuery
	}
	if !s.packActive(ctx, q.Pack) {
		return nil
	}
	if s.env.Flags.Bool("schedule_lognames") {
		s.status.Info("Executing scheduled query " + name + ": " + q.SQL)
	}
	decs := s.decorations(ctx)

	// Event tables read only what this query has not logged yet.
	after, err := s.optimizeMarkers(ctx, name)
	if err != nil {
		return s.failed(q, fmt.Errorf("read event markers: %w", err))
	}
	qctx, opt := events.WithOptimizer(ctx, after)
	if !s.env.Flags.Bool("events_optimize") {
		qctx = ctx
	}

	user0, sys0, _ := cpuMS()
	start := time.Now()
	res, err := s.db.Query(qctx, q.SQL)
	wall := time.Since(start)
	user1, sys1, rss := cpuMS()
	s.mu.Lock()
	st := &q.stats
	st.Executions++
	st.LastExecuted = now.Unix()
	st.LastWallTimeMS = uint64(wall.Milliseconds())
	st.WallTimeMS += st.LastWallTimeMS
	st.LastUserTimeMS, st.LastSystemTime = user1-user0, sys1-sys0
	st.UserTimeMS += st.LastUserTimeMS
	st.SystemTimeMS += st.LastSystemTime
	st.LastMemory = rss * 1024
	st.AverageMemory = (st.AverageMemory*(st.Executions-1) + st.LastMemory) / st.Executions
	s.mu.Unlock()
	if err != nil {
		return s.failed(q, err)
	}

	env := logger.Envelope{
		Name:                name,
		HostIdentifier:      s.hostID(),
		CalendarTime:        logger.CalendarTime(now),
		UnixTime:            uint64(now.Unix()),
		Epoch:               uint64(s.env.Flags.Int("schedule_epoch")),
		Numerics:            s.env.Flags.Bool("logger_numerics"),
		Decorations:         decs,
		DecorationsTopLevel: s.env.Flags.Bool("decorations_top_level"),
		NullValue:           s.env.Flags.Get("nullvalue"),
	}
	var lines [][]byte
	emit := func(b []byte) error { lines = append(lines, bytes.Clone(b)); return nil }
	if q.Snapshot {
		rows := rowsFromResult(res, false)
		if s.env.Flags.Bool("logger_snapshot_event_type") {
			logger.SnapshotEventLines(&env, rows, emit)
		} else {
			lines = append(lines, logger.AppendSnapshot(nil, &env, rows))
		}
		return s.write(ctx, q, lines, true)
	}

	rows := rowsFromResult(res, true)
	eventBased := s.eventBased(res.Tables)
	if eventBased && s.env.Flags.Bool("events_optimize") {
		// Events are appended, never diffed: every new row is "added".
		return s.logEvents(ctx, q, &env, rows, opt.Seen())
	}
	return s.logDifferential(ctx, q, &env, rows)
}

func (s *Scheduler) failed(q *queryState, err error) error {
	s.mu.Lock()
	q.stats.Errors++
	q.stats.LastError = err.Error()
	s.mu.Unlock()
	s.status.Error(fmt.Sprintf("Error executing scheduled query %s: %v", q.Name, err))
	return err
}

func (s *Scheduler) eventBased(tables []string) bool {
	for _, t := range tables {
		if d := s.env.Tables.Get(t); d != nil && d.Spec.Attributes&table.EventSubscriber != 0 {
			return true
		}
	}
	return false
}

func (s *Scheduler) optimizeMarkers(ctx context.Context, name string) (map[string]uint64, error) {
	after := map[string]uint64{}
	prefix := "optimize_eid." + name + "."
	err := s.store.Scan(ctx, store.DomainEvents, prefix, func(key string, v []byte) error {
		if eid, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			after[strings.TrimPrefix(key, prefix)] = eid
		}
		return nil
	})
	return after, err
}

func (s *Scheduler) counter(ctx context.Context, name string) (counter uint64, epochSame, first bool, err error) {
	epoch := strconv.FormatInt(s.env.Flags.Int("schedule_epoch"), 10)
	ev, ok, err := s.store.Get(ctx, store.DomainQueries, epochKey(name))
	if err != nil {
		return 0, false, false, err
	}
	if !ok {
		return 0, false, true, nil
	}
	if string(ev) != epoch {
		return 0, false, true, nil
	}
	cv, _, err := s.store.Get(ctx, store.DomainQueries, counterKey(name))
	if err != nil {
		return 0, false, false, err
	}
	c, _ := strconv.ParseUint(string(cv), 10, 64)
	return c, true, false, nil
}

// logEvents logs new events of an event query as added rows, and commits
// the event markers with the lines.
func (s *Scheduler) logEvents(ctx context.Context, q *queryState, env *logger.Envelope, rows []logger.Row, seen map[string]uint64) error {
	counter, _, first, err := s.counter(ctx, q.Name)
	if err != nil {
		return s.failed(q, err)
	}
	if len(rows) == 0 && !first {
		return nil
	}
	if !first && len(rows) > 0 {
		counter++
	}
	env.Counter = counter
	lines, err := s.diffLines(env, logger.Diff{Added: rows}, first)
	if err != nil {
		return s.failed(q, err)
	}
	return s.commit(ctx, q, lines, func(tx *store.Tx) error {
		for tbl, eid := range seen {
			if err := tx.Put(store.DomainEvents, optimizeKey(q.Name, tbl), []byte(strconv.FormatUint(eid, 10))); err != nil {
				return err
			}
		}
		return s.putCounter(tx, q.Name, counter)
	})
}

// logDifferential compares with the previous results and logs what changed.
func (s *Scheduler) logDifferential(ctx context.Context, q *queryState, env *logger.Envelope, rows []logger.Row) error {
	counter, sameEpoch, first, err := s.counter(ctx, q.Name)
	if err != nil {
		return s.failed(q, err)
	}
	var d logger.Diff
	if first || !sameEpoch {
		d.Added = rows
		counter = 0
	} else {
		b, ok, err := s.store.Get(ctx, store.DomainQueries, resultsKey(q.Name))
		if err != nil {
			return s.failed(q, err)
		}
		var prev []logger.Row
		if ok {
			if prev, err = decodeRows(b); err != nil {
				// Unreadable previous results: start over rather than
				// fail forever.
				s.status.Warn(fmt.Sprintf("Scheduled query %s: previous results unreadable, logging all rows: %v", q.Name, err))
				prev = nil
			}
		}
		d = diffRows(prev, rows)
		if len(d.Added) == 0 && len(d.Removed) == 0 {
			return nil
		}
		counter++
	}
	if !q.Removed {
		d.Removed = nil
	}
	env.Counter = counter
	lines, err := s.diffLines(env, d, first)
	if err != nil {
		return s.failed(q, err)
	}
	encoded := encodeRows(rows)
	return s.commit(ctx, q, lines, func(tx *store.Tx) error {
		if err := tx.Put(store.DomainQueries, resultsKey(q.Name), encoded); err != nil {
			return err
		}
		return s.putCounter(tx, q.Name, counter)
	})
}

func (s *Scheduler) putCounter(tx *store.Tx, name string, counter uint64) error {
	if err := tx.Put(store.DomainQueries, counterKey(name), []byte(strconv.FormatUint(counter, 10))); err != nil {
		return err
	}
	return tx.Put(store.DomainQueries, epochKey(name), []byte(strconv.FormatInt(s.env.Flags.Int("schedule_epoch"), 10)))
}

// diffLines formats a differential in the event or the batch format.
func (s *Scheduler) diffLines(env *logger.Envelope, d logger.Diff, first bool) ([][]byte, error) {
	var lines [][]byte
	if s.env.Flags.Bool("logger_event_type") {
		err := logger.EventLines(env, d, func(b []byte) error { lines = append(lines, bytes.Clone(b)); return nil })
		return lines, err
	}
	if len(d.Added) == 0 && len(d.Removed) == 0 && !first {
		return nil, nil
	}
	return [][]byte{logger.AppendBatch(nil, env, d)}, nil
}

// commit stores the new state and the lines to log in one transaction,
// writes the lines, then clears them. A crash after the transaction
// replays the lines at the next start (ReplayPending); a crash before it
// loses nothing, because the next run diffs against the old state again.
func (s *Scheduler) commit(ctx context.Context, q *queryState, lines [][]byte, state func(tx *store.Tx) error) error {
	pending := encodeLines(false, lines)
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		if err := state(tx); err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		return tx.Put(store.DomainLogs, pendingKey(q.Name), pending)
	})
	if err != nil {
		return s.failed(q, fmt.Errorf("store results: %w", err))
	}
	if len(lines) == 0 {
		return nil
	}
	return s.write(ctx, q, lines, false)
}

// write hands lines to the logger and then forgets the pending copy.
func (s *Scheduler) write(ctx context.Context, q *queryState, lines [][]byte, snapshot bool) error {
	var size uint64
	for _, l := range lines {
		if snapshot {
			if err := s.log.LogSnapshot(ctx, l); err != nil {
				return s.failed(q, &LogError{err})
			}
		}
		size += uint64(len(l))
	}
	if !snapshot {
		if err := logger.LogResults(ctx, s.log, lines); err != nil {
			return s.failed(q, &LogError{err})
		}
	}
	s.mu.Lock()
	q.stats.OutputSize += size
	s.mu.Unlock()
	if !snapshot && len(lines) > 0 {
		if err := s.store.Delete(ctx, store.DomainLogs, pendingKey(q.Name)); err != nil {
			s.status.Warn("Could not clear logged results of " + q.Name + ": " + err.Error())
		}
	}
	return nil
}

// LogError is a failure to write results to the logger; osquery exits 78
// on it, since results that cannot be logged are results lost.
type LogError struct{ Err error }

func (e *LogError) Error() string { return "write results: " + e.Err.Error() }
func (e *LogError) Unwrap() error { return e.Err }

// ReplayPending logs lines that were committed by a run that crashed
// before confirming them. written reports whether a line already reached
// the log (the filesystem logger can check its file), so a line is logged
// exactly once.
func (s *Scheduler) ReplayPending(ctx context.Context, written func(line []byte) bool) error {
	type entry struct {
		key   string
		lines [][]byte
	}
	var todo []entry
	err := s.store.Scan(ctx, store.DomainLogs, "pending.", func(key string, v []byte) error {
		_, lines, err := decodeLines(v)
		if err != nil {
			s.status.Warn("Dropping unreadable pending results " + key + ": " + err.Error())
			lines = nil
		}
		todo = append(todo, entry{key, lines})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range todo {
		for _, l := range e.lines {
			if written != nil && written(l) {
				continue
			}
			if err := s.log.LogResult(ctx, l); err != nil {
				return &LogError{err}
			}
		}
		if err := s.store.Delete(ctx, store.DomainLogs, e.key); err != nil {
			return err
		}
	}
	return nil
}

func encodeLines(snapshot bool, lines [][]byte) []byte {
	var b []byte
	if snapshot {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(lines)))
	for _, l := range lines {
		b = binary.AppendUvarint(b, uint64(len(l)))
		b = append(b, l...)
	}
	return b
}

func decodeLines(b []byte) (snapshot bool, lines [][]byte, err error) {
	if len(b) == 0 {
		return false, nil, errCorruptResults
	}
	snapshot = b[0] == 1
	r := &reader{b[1:]}
	n, err := r.uvarint()
	if err != nil || n > uint64(len(b)) {
		return false, nil, errCorruptResults
	}
	for range n {
		l, err := r.bytes()
		if err != nil {
			return false, nil, err
		}
		lines = append(lines, []byte(l))
	}
	return snapshot, lines, nil
}

// Info is a scheduled query and its counters, for osquery_schedule.
type Info struct {
	*config.Query
	Stats
}

// Queries lists the schedule with counters, sorted by name.
func (s *Scheduler) Queries() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, 0, len(s.queries))
	for _, q := range s.queries {
		out = append(out, Info{Query: q.Query, Stats: q.stats})
	}
	sortInfos(out)
	return out
}

func sortInfos(out []Info) {
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
}
