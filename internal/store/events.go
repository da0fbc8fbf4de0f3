package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// An event subscriber's buffer is two tables, named by the subscriber's id
// so that no name ever needs quoting:
//
//	ev_<id>(eid INTEGER PRIMARY KEY, time, data)  one row per event
//	evb_<id>(time INTEGER PRIMARY KEY, n, lo, hi) one row per batch
//
// A batch is every event with the same time (second), as osquery's
// events_max counts them. The batch table makes batch counts, Stats and
// the time→eid mapping of a time-range scan cost O(batches) instead of
// O(rows). ev_<id> has an index on time for expiry; eids are assigned from
// event_subscribers.last_eid inside the writing transaction, so they never
// repeat, even after every row expired or another process wrote.
type eventTableNames struct {
	rows, index, batches string
}

func eventTables(id int64) eventTableNames {
	return eventTableNames{
		rows:    fmt.Sprintf("ev_%d", id),
		index:   fmt.Sprintf("ev_%d_time", id),
		batches: fmt.Sprintf("evb_%d", id),
	}
}

func (t eventTableNames) createSQL() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s(
		eid  INTEGER PRIMARY KEY,
		time INTEGER NOT NULL,
		data BLOB NOT NULL
	);
	CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s(time);
	CREATE TABLE IF NOT EXISTS %[3]s(
		time INTEGER PRIMARY KEY,
		n    INTEGER NOT NULL,
		lo   INTEGER NOT NULL,
		hi   INTEGER NOT NULL
	);`, t.rows, t.index, t.batches)
}

// Pages of an event scan, and chunks of an expiry: the lock is released
// between them.
const (
	eventPageRows    = 512
	eventPageBytes   = 4 << 20
	expireChunkRows  = 20000
	expireChunkBatch = 2000
)

// EventStore is one event subscriber's buffer (osquery's
// data.<publisher>.<subscriber>.<eid> keys). Get it with DB.Events. It is
// safe for concurrent use.
type EventStore struct {
	db   *DB
	name string
	id   int64
	t    eventTableNames
	sql  eventSQL

	// flushSem serialises writes of this subscriber so that rows commit in
	// eid order: a scan never sees eid n+1 before eid n exists.
	flushSem chan struct{}

	mu          sync.Mutex // guards pending and pendingRows
	pending     []eventBatch
	pendingRows int
}

type eventBatch struct {
	time int64
	rows [][]byte
}

type eventSQL struct {
	lastEID, setLastEID, insert, upsertBatch        string
	bounds, page, stats, newest, chunk, offsetBatch string
	deleteRows, deleteBatches                       string
}

func newEventSQL(id int64, t eventTableNames) eventSQL {
	return eventSQL{
		lastEID:    fmt.Sprintf("SELECT last_eid FROM event_subscribers WHERE id = %d", id),
		setLastEID: fmt.Sprintf("UPDATE event_subscribers SET last_eid = ? WHERE id = %d", id),
		insert:     "INSERT INTO " + t.rows + "(eid, time, data) VALUES(?, ?, ?)",
		upsertBatch: "INSERT INTO " + t.batches + "(time, n, lo, hi) VALUES(?, ?, ?, ?) " +
			"ON CONFLICT(time) DO UPDATE SET n = n + excluded.n, lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)",
		// The batch table maps a time range to the eids it spans.
		bounds: "SELECT min(lo), max(hi) FROM " + t.batches + " WHERE time >= ? AND time <= ?",
		// Rows are read by eid (the rowid) so they come in eid order
		// without a sort; "+time" keeps the planner from choosing the time
		// index, which would need one. When times grow with eids (always,
		// unless callers pass custom older times) [lo, hi] holds exactly
		// the range's rows; otherwise the time filter drops the others.
		page: "SELECT eid, time, data FROM " + t.rows +
			" WHERE eid > ? AND eid <= ? AND +time >= ? AND +time <= ? ORDER BY eid LIMIT ?",
		stats:       "SELECT count(*), coalesce(sum(n), 0), min(time), max(time) FROM " + t.batches,
		newest:      "SELECT max(time) FROM " + t.batches,
		chunk:       "SELECT time, n FROM " + t.batches + " WHERE time < ? ORDER BY time LIMIT ?",
		offsetBatch: "SELECT time FROM " + t.batches + " ORDER BY time LIMIT 1 OFFSET ?",
		// The time index serves expiry.
		deleteRows:    "DELETE FROM " + t.rows + " WHERE time <= ?",
		deleteBatches: "DELETE FROM " + t.batches + " WHERE time <= ?",
	}
}

// Events returns the buffer of the named subscriber (e.g. "process_events"),
// creating it on first use. The same name gives the same *EventStore.
func (db *DB) Events(name string) (*EventStore, error) {
	if name == "" || len(name) > 255 {
		return nil, fmt.Errorf("store: invalid event subscriber name %q", name)
	}
	db.evMu.Lock()
	defer db.evMu.Unlock()
	if es, ok := db.events[name]; ok {
		return es, nil
	}
	var id int64
	err := db.withConn(context.Background(), func(c *sqlite3.Conn) error {
		return db.inTx(func() error {
			if _, err := db.exec("INSERT OR IGNORE INTO event_subscribers(name) VALUES(?)", name); err != nil {
				return err
			}
			ok, err := db.queryRow("SELECT id FROM event_subscribers WHERE name = ?",
				func(s *sqlite3.Stmt) { id = s.ColumnInt64(0) }, name)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("store: subscriber %q vanished", name)
			}
			return c.Exec(eventTables(id).createSQL())
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: events %s: %w", name, err)
	}
	t := eventTables(id)
	es := &EventStore{db: db, name: name, id: id, t: t, sql: newEventSQL(id, t), flushSem: make(chan struct{}, 1)}
	db.events[name] = es
	return es, nil
}

// Name is the subscriber's name.
func (es *EventStore) Name() string { return es.name }

// AddAsync queues one batch of rows, all with the same time, to be written
// within Options.FlushInterval (sooner once Options.FlushRows rows wait),
// so a storm of events costs one transaction per flush. Rows queued before
// Close are written by Close. The store keeps the row slices: the caller
// must not modify them afterwards. Event ids are assigned when the rows are
// written; Add returns them.
func (es *EventStore) AddAsync(time int64, rows [][]byte) error {
	if len(rows) == 0 {
		return nil
	}
	db := es.db
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	es.mu.Lock()
	if es.pendingRows+len(rows) > db.opts.MaxPendingRows {
		es.mu.Unlock()
		return fmt.Errorf("%w: %s has %d rows waiting", ErrBufferFull, es.name, es.pendingRows)
	}
	wasEmpty := es.pendingRows == 0
	es.pending = append(es.pending, eventBatch{time: time, rows: slices.Clone(rows)})
	es.pendingRows += len(rows)
	full := es.pendingRows >= db.opts.FlushRows
	es.mu.Unlock()
	switch {
	case full:
		signal(db.urgent)
		signal(db.wake)
	case wasEmpty:
		signal(db.wake)
	}
	return nil
}

// Add writes one batch of rows, all with the same time, together with any
// rows queued by AddAsync, and returns the event id of its first row (its
// rows have consecutive ids). When Add returns nil the rows are committed.
// An empty batch writes nothing and returns 0.
func (es *EventStore) Add(ctx context.Context, time int64, rows [][]byte) (uint64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	if err := es.lockFlush(ctx); err != nil {
		return 0, err
	}
	defer es.unlockFlush()
	queued := es.takePending()
	last, err := es.write(ctx, append(queued, eventBatch{time: time, rows: rows}))
	if err != nil {
		es.putBack(queued)
		return 0, fmt.Errorf("store: add %s events: %w", es.name, err)
	}
	return last - uint64(len(rows)) + 1, nil
}

// Flush writes the rows queued by AddAsync now. On failure they stay
// queued and the error is returned.
func (es *EventStore) Flush(ctx context.Context) error {
	if err := es.lockFlush(ctx); err != nil {
		return err
	}
	defer es.unlockFlush()
	return es.flushLocked(ctx)
}

func (es *EventStore) flushLocked(ctx context.Context) error {
	queued := es.takePending()
	if len(queued) == 0 {
		return nil
	}
	if _, err := es.write(ctx, queued); err != nil {
		es.putBack(queued)
		return fmt.Errorf("store: flush %s events: %w", es.name, err)
	}
	return nil
}

func (es *EventStore) lockFlush(ctx context.Context) error {
	select {
	case es.flushSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (es *EventStore) unlockFlush() { <-es.flushSem }

func (es *EventStore) takePending() []eventBatch {
	es.mu.Lock()
	defer es.mu.Unlock()
	p := es.pending
	es.pending, es.pendingRows = nil, 0
	return p
}

// putBack returns batches that failed to be written to the head of the
// queue, ahead of anything queued meanwhile, keeping their order.
func (es *EventStore) putBack(batches []eventBatch) {
	if len(batches) == 0 {
		return
	}
	n := 0
	for _, b := range batches {
		n += len(b.rows)
	}
	es.mu.Lock()
	es.pending = append(batches, es.pending...)
	es.pendingRows += n
	es.mu.Unlock()
}

func (es *EventStore) pendingCount() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.pendingRows
}

// write commits batches in one transaction and returns the last eid used.
// Caller holds flushSem.
func (es *EventStore) write(ctx context.Context, batches []eventBatch) (uint64, error) {
	var last int64
	err := es.db.withConn(ctx, func(*sqlite3.Conn) error {
		db := es.db
		return db.inTx(func() error {
			ok, err := db.queryRow(es.sql.lastEID, func(s *sqlite3.Stmt) { last = s.ColumnInt64(0) })
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("subscriber %s is not registered", es.name)
			}
			for _, b := range batches {
				lo := last + 1
				for _, row := range b.rows {
					last++
					if row == nil {
						row = []byte{}
					}
					if _, err := db.exec(es.sql.insert, last, b.time, row); err != nil {
						return err
					}
				}
				if _, err := db.exec(es.sql.upsertBatch, b.time, len(b.rows), lo, last); err != nil {
					return err
				}
			}
			_, err = db.exec(es.sql.setLastEID, last)
			return err
		})
	})
	return uint64(last), err
}

// Scan calls fn for each stored event with from <= time <= to (-1, or any
// negative value, leaves that end open) and eid > afterEID, in eid order,
// until fn returns false. Rows queued by AddAsync are written first, so
// the scan sees every row accepted before it started; rows added during
// the scan are not returned. Rows are read in pages: fn runs without the
// lock and may use the store. row belongs to fn.
func (es *EventStore) Scan(ctx context.Context, from, to int64, afterEID uint64,
	fn func(eid uint64, time int64, row []byte) bool) error {
	if err := es.Flush(ctx); err != nil {
		return err
	}
	lowT, highT := int64(math.MinInt64), int64(math.MaxInt64)
	if from >= 0 {
		lowT = from
	}
	if to >= 0 {
		highT = to
	}
	if lowT > highT || afterEID >= math.MaxInt64 {
		return nil
	}
	// Fix the eid window first: [start, hi] of the rows committed now.
	start, hi := int64(afterEID), int64(0)
	empty := false
	err := es.db.withConn(ctx, func(*sqlite3.Conn) error {
		db := es.db
		if from < 0 && to < 0 {
			_, err := db.queryRow(es.sql.lastEID, func(s *sqlite3.Stmt) { hi = s.ColumnInt64(0) })
			return err
		}
		_, err := db.queryRow(es.sql.bounds, func(s *sqlite3.Stmt) {
			if s.ColumnType(0) == sqlite3.NULL {
				empty = true
				return
			}
			start = max(start, s.ColumnInt64(0)-1)
			hi = s.ColumnInt64(1)
		}, lowT, highT)
		return err
	})
	if err != nil || empty {
		return err
	}
	type ev struct {
		eid  int64
		time int64
		row  []byte
	}
	lastSize := 0
	for start < hi {
		page := make([]ev, 0, eventPageRows)
		more := false
		err := es.db.withConn(ctx, func(*sqlite3.Conn) error {
			// One buffer per page, sized like the last one: fn may keep
			// its rows, so buffers are never reused.
			buf := make([]byte, 0, lastSize+lastSize/8)
			size := 0
			defer func() { lastSize = size }()
			return es.db.query(es.sql.page, func(s *sqlite3.Stmt) bool {
				if len(page) == eventPageRows || (size >= eventPageBytes && len(page) > 0) {
					more = true
					return false
				}
				n := len(buf)
				buf = s.ColumnBlob(2, buf)
				page = append(page, ev{eid: s.ColumnInt64(0), time: s.ColumnInt64(1), row: buf[n:len(buf):len(buf)]})
				size += len(buf) - n
				return true
			}, start, hi, lowT, highT, eventPageRows+1)
		})
		if err != nil {
			return err
		}
		for i := range page {
			if !fn(uint64(page[i].eid), page[i].time, page[i].row) {
				return nil
			}
		}
		if !more {
			return nil
		}
		start = page[len(page)-1].eid
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Expire deletes the stored events with time < before and returns how many
// rows it removed. As in osquery the newest batch is always kept, whatever
// its time. Large expiries run in chunks of whole batches, each its own
// transaction.
func (es *EventStore) Expire(ctx context.Context, before int64) (int, error) {
	rows, _, err := es.deleteOldest(ctx, func() (int64, bool, error) {
		var newest int64
		has := false
		_, err := es.db.queryRow(es.sql.newest, func(s *sqlite3.Stmt) {
			if s.ColumnType(0) != sqlite3.NULL {
				newest, has = s.ColumnInt64(0), true
			}
		})
		return min(before, newest), has, err
	})
	return rows, err
}

// LimitBatches keeps at most max batches (distinct times, osquery's
// events_max), deleting the oldest, and returns how many batches it
// removed. max < 1 is taken as 1: the newest batch is always kept.
func (es *EventStore) LimitBatches(ctx context.Context, max int) (int, error) {
	if max < 1 {
		max = 1
	}
	_, batches, err := es.deleteOldest(ctx, func() (int64, bool, error) {
		var cutoff int64
		has := false
		// The time of the oldest batch to keep, if there are more than
		// max. Recomputed per chunk: a flush may add batches meanwhile.
		var count int64
		if _, err := es.db.queryRow(es.sql.stats, func(s *sqlite3.Stmt) { count = s.ColumnInt64(0) }); err != nil {
			return 0, false, err
		}
		if count <= int64(max) {
			return 0, false, nil
		}
		_, err := es.db.queryRow(es.sql.offsetBatch, func(s *sqlite3.Stmt) {
			cutoff, has = s.ColumnInt64(0), true
		}, count-int64(max))
		return cutoff, has, err
	})
	return batches, err
}

// deleteOldest deletes batches with time < cutoff, where cutoff is asked
// anew for every chunk, until none is left. It returns rows and batches
// removed.
func (es *EventStore) deleteOldest(ctx context.Context, cutoff func() (int64, bool, error)) (int, int, error) {
	db := es.db
	var rows, batches int
	for {
		var doneAll bool
		var chunkRows, chunkBatches int64
		err := db.withConn(ctx, func(*sqlite3.Conn) error {
			return db.inTx(func() error {
				cut, ok, err := cutoff()
				if err != nil || !ok {
					doneAll = true
					return err
				}
				// Whole batches, oldest first, up to a chunk's worth.
				var upTo int64
				n, nb := int64(0), 0
				err = db.query(es.sql.chunk, func(s *sqlite3.Stmt) bool {
					upTo = s.ColumnInt64(0)
					n += s.ColumnInt64(1)
					nb++
					return n < expireChunkRows
				}, cut, expireChunkBatch)
				if err != nil {
					return err
				}
				if nb == 0 {
					doneAll = true
					return nil
				}
				if chunkRows, err = db.exec(es.sql.deleteRows, upTo); err != nil {
					return err
				}
				chunkBatches, err = db.exec(es.sql.deleteBatches, upTo)
				return err
			})
		})
		if err != nil {
			return rows, batches, fmt.Errorf("store: expire %s events: %w", es.name, err)
		}
		rows += int(chunkRows)
		batches += int(chunkBatches)
		if doneAll {
			break
		}
	}
	if rows > 0 {
		if err := db.withConn(ctx, func(*sqlite3.Conn) error { return db.reclaim() }); err != nil {
			db.log.Debug("reclaiming free pages failed", "err", err)
		}
	}
	return rows, batches, nil
}

// reclaim gives free pages back to the file system once they are a quarter
// of the file: after a storm has expired the file shrinks instead of
// staying at its peak size. Below that, SQLite reuses them for new rows.
// Caller holds the lock.
func (db *DB) reclaim() error {
	var free, total int64
	if _, err := db.queryRow("PRAGMA freelist_count", func(s *sqlite3.Stmt) { free = s.ColumnInt64(0) }); err != nil {
		return err
	}
	if _, err := db.queryRow("PRAGMA page_count", func(s *sqlite3.Stmt) { total = s.ColumnInt64(0) }); err != nil {
		return err
	}
	if free < 256 || free*4 < total {
		return nil
	}
	return db.conn.Exec("PRAGMA incremental_vacuum")
}

// EventStats describes one subscriber's buffer.
type EventStats struct {
	Rows    int64 // stored events
	Batches int64 // distinct times among them
	// OldestTime and NewestTime are the smallest and largest stored time;
	// 0 when empty.
	OldestTime, NewestTime int64
	LastEID                uint64 // last event id handed out, ever
	Pending                int    // rows queued by AddAsync, not yet written
}

// Stats reports the stored rows and batches.
func (es *EventStore) Stats(ctx context.Context) (EventStats, error) {
	st := EventStats{Pending: es.pendingCount()}
	err := es.db.withConn(ctx, func(*sqlite3.Conn) error {
		db := es.db
		if _, err := db.queryRow(es.sql.stats, func(s *sqlite3.Stmt) {
			st.Batches = s.ColumnInt64(0)
			st.Rows = s.ColumnInt64(1)
			st.OldestTime = s.ColumnInt64(2)
			st.NewestTime = s.ColumnInt64(3)
		}); err != nil {
			return err
		}
		_, err := db.queryRow(es.sql.lastEID, func(s *sqlite3.Stmt) { st.LastEID = uint64(s.ColumnInt64(0)) })
		return err
	})
	return st, err
}

// signal wakes the flusher without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// flushLoop writes AddAsync rows in the background: it sleeps until a
// buffer gets its first row, waits FlushInterval (less if a buffer fills
// up) and flushes every buffer. After a failure it backs off up to 5s and
// logs once per run of failures.
func (db *DB) flushLoop() {
	defer db.wg.Done()
	delay := db.opts.FlushInterval
	failing := false
	for {
		select {
		case <-db.done:
			return
		case <-db.wake:
		}
		timer := time.NewTimer(delay)
		urgent := db.urgent
		if failing {
			urgent = nil // retry on the backoff timer only
		}
		select {
		case <-db.done:
			timer.Stop()
			return
		case <-timer.C:
		case <-urgent:
			timer.Stop()
		}
		err := db.flushAll(context.Background(), false)
		switch {
		case err != nil && !failing:
			db.log.Error("writing buffered events failed; will retry", "err", err)
			failing = true
		case err != nil:
			db.log.Debug("writing buffered events failed again", "err", err)
		case failing:
			db.log.Info("writing buffered events works again")
			failing = false
		}
		if failing {
			delay = min(delay*2, 5*time.Second)
		} else {
			delay = db.opts.FlushInterval
		}
		if db.anyPending() {
			signal(db.wake)
		}
	}
}

func (db *DB) eventStores() []*EventStore {
	db.evMu.Lock()
	defer db.evMu.Unlock()
	out := make([]*EventStore, 0, len(db.events))
	for _, es := range db.events {
		out = append(out, es)
	}
	return out
}

func (db *DB) anyPending() bool {
	for _, es := range db.eventStores() {
		if es.pendingCount() > 0 {
			return true
		}
	}
	return false
}

// flushAll flushes every buffer. At close, rows that could not be written
// are reported as lost.
func (db *DB) flushAll(ctx context.Context, closing bool) error {
	var errs []error
	for _, es := range db.eventStores() {
		if err := es.Flush(ctx); err != nil {
			errs = append(errs, err)
			if closing {
				db.log.Error("buffered events lost at close", "subscriber", es.name, "rows", es.pendingCount(), "err", err)
			}
		}
	}
	return errors.Join(errs...)
}
