package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

type storeTestEvent struct {
	eid  uint64
	time int64
	row  string
}

func storeTestScan(t testing.TB, es *EventStore, from, to int64, after uint64) []storeTestEvent {
	t.Helper()
	var out []storeTestEvent
	err := es.Scan(context.Background(), from, to, after, func(eid uint64, tm int64, row []byte) bool {
		out = append(out, storeTestEvent{eid, tm, string(row)})
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func storeTestRows(prefix string, n int) [][]byte {
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, "%s%d", prefix, i)
	}
	return rows
}

func TestEventsAddScan(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	es, err := db.Events("process_events")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := db.Events("process_events"); again != es {
		t.Fatal("Events returned a second store for the same name")
	}
	other, _ := db.Events("socket_events")
	if first, err := es.Add(ctx, 5, nil); first != 0 || err != nil {
		t.Fatalf("empty Add = %d %v", first, err)
	}
	// Batches at times 10..19, 3 rows each; eids 1..30.
	for tm := int64(10); tm < 20; tm++ {
		first, err := es.Add(ctx, tm, storeTestRows(fmt.Sprintf("t%d-", tm), 3))
		if err != nil || first != uint64((tm-10)*3+1) {
			t.Fatalf("Add(%d) = %d %v", tm, first, err)
		}
	}
	// Ids are per subscriber.
	if first, err := other.Add(ctx, 10, storeTestRows("s", 1)); first != 1 || err != nil {
		t.Fatalf("other subscriber's first eid = %d %v", first, err)
	}
	all := storeTestScan(t, es, -1, -1, 0)
	if len(all) != 30 {
		t.Fatalf("%d rows", len(all))
	}
	for i, e := range all {
		want := storeTestEvent{uint64(i + 1), int64(10 + i/3), fmt.Sprintf("t%d-%d", 10+i/3, i%3)}
		if e != want {
			t.Fatalf("row %d = %+v, want %+v", i, e, want)
		}
	}
	cases := []struct {
		from, to int64
		after    uint64
		want     int // rows
		firstEID uint64
	}{
		{12, 12, 0, 3, 7},       // [t,t]
		{12, 14, 0, 9, 7},       // inclusive both ends
		{18, -1, 0, 6, 25},      // open end
		{-1, 10, 0, 3, 1},       // open start
		{-1, -1, 28, 2, 29},     // after eid only
		{12, 14, 8, 7, 9},       // both
		{12, 14, 27, 0, 0},      // after the range
		{20, 30, 0, 0, 0},       // past the newest
		{0, 9, 0, 0, 0},         // before the oldest
		{15, 12, 0, 0, 0},       // empty range
		{-1, -1, 1 << 63, 0, 0}, // huge after
	}
	for _, c := range cases {
		got := storeTestScan(t, es, c.from, c.to, c.after)
		if len(got) != c.want || (c.want > 0 && got[0].eid != c.firstEID) {
			t.Errorf("Scan(%d, %d, after %d): %d rows from %v, want %d from %d", c.from, c.to, c.after, len(got), got, c.want, c.firstEID)
		}
		for i := 1; i < len(got); i++ {
			if got[i].eid <= got[i-1].eid {
				t.Errorf("not in eid order: %v", got)
			}
		}
	}
	// fn returning false stops.
	n := 0
	must(t, es.Scan(ctx, -1, -1, 0, func(uint64, int64, []byte) bool { n++; return n < 4 }))
	if n != 4 {
		t.Fatalf("stopped after %d", n)
	}
	st, err := es.Stats(ctx)
	must(t, err)
	if want := (EventStats{Rows: 30, Batches: 10, OldestTime: 10, NewestTime: 19, LastEID: 30}); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

// TestEventsScanPages crosses page boundaries and checks rows handed to fn
// stay valid after fn returns.
func TestEventsScanPages(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, "")
	es, _ := db.Events("file_events")
	const n = 3*eventPageRows + 17
	rows := storeTestRows("row-", n)
	if _, err := es.Add(ctx, 1, rows); err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	must(t, es.Scan(ctx, -1, -1, 0, func(_ uint64, _ int64, row []byte) bool {
		kept = append(kept, row)
		return true
	}))
	if len(kept) != n {
		t.Fatalf("%d rows", len(kept))
	}
	for i := range kept {
		if string(kept[i]) != string(rows[i]) {
			t.Fatalf("row %d = %q, want %q", i, kept[i], rows[i])
		}
	}
	// Big rows: the byte budget cuts pages, every row still comes once.
	big, _ := db.Events("yara_events")
	blob := strings.Repeat("y", 1<<20)
	for i := range 10 {
		if _, err := big.Add(ctx, int64(i), [][]byte{[]byte(blob + fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	got := storeTestScan(t, big, -1, -1, 0)
	if len(got) != 10 || got[9].row != blob+"9" {
		t.Fatalf("big rows: %d", len(got))
	}
}

// TestEventsCustomTimes: batches whose times do not grow with their eids
// (osquery allows a custom time) are still found by time, in eid order.
func TestEventsCustomTimes(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, "")
	es, _ := db.Events("syslog_events")
	r := rand.New(rand.NewPCG(3, 4))
	var all []storeTestEvent
	for range 300 {
		tm := int64(r.IntN(50))
		n := 1 + r.IntN(3)
		first, err := es.Add(ctx, tm, storeTestRows("x", n))
		must(t, err)
		for i := range n {
			all = append(all, storeTestEvent{first + uint64(i), tm, fmt.Sprintf("x%d", i)})
		}
	}
	for range 200 {
		from, to := int64(r.IntN(60))-5, int64(r.IntN(60))-5
		after := uint64(r.IntN(len(all) + 10))
		var want []storeTestEvent
		for _, e := range all {
			if (from < 0 || e.time >= from) && (to < 0 || e.time <= to) && e.eid > after {
				want = append(want, e)
			}
		}
		got := storeTestScan(t, es, from, to, after)
		if !slices.Equal(got, want) {
			t.Fatalf("Scan(%d, %d, %d): %d rows, want %d", from, to, after, len(got), len(want))
		}
	}
	st, _ := es.Stats(ctx)
	if st.Rows != int64(len(all)) {
		t.Fatalf("Stats.Rows = %d, want %d", st.Rows, len(all))
	}
	// Expiry by time removes exactly the older rows.
	removed, err := es.Expire(ctx, 25)
	must(t, err)
	var keep []storeTestEvent
	for _, e := range all {
		if e.time >= 25 {
			keep = append(keep, e)
		}
	}
	if removed != len(all)-len(keep) {
		t.Fatalf("Expire removed %d, want %d", removed, len(all)-len(keep))
	}
	if got := storeTestScan(t, es, -1, -1, 0); !slices.Equal(got, keep) {
		t.Fatalf("after Expire: %d rows, want %d", len(got), len(keep))
	}
}

func TestEventsExpire(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	es, _ := db.Events("process_events")
	if n, err := es.Expire(ctx, 100); n != 0 || err != nil {
		t.Fatalf("Expire on empty: %d %v", n, err)
	}
	for tm := int64(100); tm < 110; tm++ {
		_, err := es.Add(ctx, tm, storeTestRows("r", 2))
		must(t, err)
	}
	n, err := es.Expire(ctx, 105)
	if n != 10 || err != nil {
		t.Fatalf("Expire(105) = %d %v, want 10 rows", n, err)
	}
	if got := storeTestScan(t, es, -1, -1, 0); len(got) != 10 || got[0].time != 105 || got[0].eid != 11 {
		t.Fatalf("after Expire(105): %v", got)
	}
	// Everything is older than the cutoff: the newest batch stays.
	n, err = es.Expire(ctx, 1000)
	if n != 8 || err != nil {
		t.Fatalf("Expire(1000) = %d %v, want 8", n, err)
	}
	got := storeTestScan(t, es, -1, -1, 0)
	if len(got) != 2 || got[0].time != 109 {
		t.Fatalf("newest batch not kept: %v", got)
	}
	st, _ := es.Stats(ctx)
	if st.Batches != 1 || st.Rows != 2 || st.LastEID != 20 || st.OldestTime != 109 {
		t.Fatalf("Stats after expiry: %+v", st)
	}
	if first, _ := es.Add(ctx, 110, storeTestRows("n", 1)); first != 21 {
		t.Fatalf("eid after expiry = %d, want 21", first)
	}
}

func TestEventsLimitBatches(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, "")
	es, _ := db.Events("process_events")
	// 10 batches (distinct seconds), different sizes: events_max counts
	// batches, not rows.
	for tm := int64(1); tm <= 10; tm++ {
		_, err := es.Add(ctx, tm, storeTestRows("r", int(tm)))
		must(t, err)
	}
	// Two Adds in the same second are one batch.
	_, err := es.Add(ctx, 10, storeTestRows("again", 5))
	must(t, err)
	if n, err := es.LimitBatches(ctx, 10); n != 0 || err != nil {
		t.Fatalf("LimitBatches(10) on 10 batches = %d %v", n, err)
	}
	n, err := es.LimitBatches(ctx, 7)
	if n != 3 || err != nil {
		t.Fatalf("LimitBatches(7) = %d %v, want 3 batches", n, err)
	}
	st, _ := es.Stats(ctx)
	if st.Batches != 7 || st.OldestTime != 4 || st.Rows != 4+5+6+7+8+9+10+5 {
		t.Fatalf("Stats after limit: %+v", st)
	}
	if n, err := es.LimitBatches(ctx, 0); n != 6 || err != nil {
		t.Fatalf("LimitBatches(0) = %d %v, want 6 (the newest stays)", n, err)
	}
	if got := storeTestScan(t, es, -1, -1, 0); len(got) != 15 || got[0].time != 10 {
		t.Fatalf("after LimitBatches(0): %d rows", len(got))
	}
}

// TestEventsExpireChunks: an expiry larger than one chunk runs in several
// transactions and still removes everything it should.
func TestEventsExpireChunks(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	es, _ := db.Events("process_events")
	row := [][]byte{}
	for range 100 {
		row = append(row, []byte(strings.Repeat("p", 200)))
	}
	// 25000 rows in 250 batches: more than one expiry chunk.
	if expireChunkRows >= 24000 {
		t.Fatalf("test needs more rows than a chunk (%d)", expireChunkRows)
	}
	for tm := range int64(250) {
		_, err := es.Add(ctx, tm, row)
		must(t, err)
	}
	n, err := es.Expire(ctx, 240)
	if n != 24000 || err != nil {
		t.Fatalf("Expire = %d %v", n, err)
	}
	b, err := es.LimitBatches(ctx, 5)
	if b != 5 || err != nil {
		t.Fatalf("LimitBatches = %d %v", b, err)
	}
	st, _ := es.Stats(ctx)
	if st.Rows != 500 || st.Batches != 5 || st.OldestTime != 245 {
		t.Fatalf("Stats: %+v", st)
	}
	// Expired space went back to the file system.
	free := storeTestPragma(t, db, "PRAGMA freelist_count")
	pages := storeTestPragma(t, db, "PRAGMA page_count")
	t.Logf("after expiry: %s pages, %s free", pages, free)
	var f, p int
	fmt.Sscan(free, &f)
	fmt.Sscan(pages, &p)
	// At the peak the rows took about 1500 pages; free pages are given
	// back once they reach a quarter of the file (and at least 256).
	if p > 500 || (f >= 256 && f*4 >= p) {
		t.Errorf("file not reclaimed: %d pages, %d free", p, f)
	}
}

func TestEventsAsync(t *testing.T) {
	ctx := context.Background()
	db, err := OpenWithOptions(t.TempDir(), Options{FlushInterval: 20 * time.Millisecond, FlushRows: 50, MaxPendingRows: 100})
	must(t, err)
	defer db.Close()
	es, _ := db.Events("process_events")
	must(t, es.AddAsync(1, storeTestRows("a", 3)))
	st, _ := es.Stats(ctx)
	if st.Pending != 3 && st.Rows != 3 {
		t.Fatalf("Stats right after AddAsync: %+v", st)
	}
	// The background flusher writes within the interval.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ = es.Stats(ctx)
		if st.Rows == 3 && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not flushed: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The caller's outer slice may be reused after AddAsync.
	rows := storeTestRows("b", 2)
	must(t, es.AddAsync(2, rows))
	rows[0] = []byte("changed")
	// A sync Add writes queued rows first: ids follow acceptance order.
	first, err := es.Add(ctx, 3, storeTestRows("c", 1))
	if err != nil || first != 6 {
		t.Fatalf("Add after AddAsync = %d %v, want 6", first, err)
	}
	got := storeTestScan(t, es, -1, -1, 0)
	var s []string
	for _, e := range got {
		s = append(s, fmt.Sprintf("%d:%s", e.eid, e.row))
	}
	if strings.Join(s, " ") != "1:a0 2:a1 3:a2 4:b0 5:b1 6:c0" {
		t.Fatalf("rows: %v", s)
	}
	// Scan sees rows queued before it started.
	must(t, es.AddAsync(4, storeTestRows("d", 1)))
	if got := storeTestScan(t, es, 4, 4, 0); len(got) != 1 {
		t.Fatalf("Scan missed a queued row: %v", got)
	}
	// The buffer is bounded.
	must(t, es.lockFlush(ctx)) // block flushes so rows pile up
	var full error
	for i := 0; i < 200 && full == nil; i++ {
		full = es.AddAsync(5, storeTestRows("e", 1))
	}
	es.unlockFlush()
	if !errors.Is(full, ErrBufferFull) {
		t.Fatalf("no ErrBufferFull: %v", full)
	}
	must(t, es.Flush(ctx))
	if st, _ := es.Stats(ctx); st.Pending != 0 || st.Rows != 7+100 {
		t.Fatalf("after Flush: %+v", st)
	}
}

// TestEventsCloseFlushes: rows accepted by AddAsync are written by Close.
func TestEventsCloseFlushes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := OpenWithOptions(dir, Options{FlushInterval: time.Hour, FlushRows: 1 << 20, MaxPendingRows: 1 << 20})
	must(t, err)
	es, _ := db.Events("socket_events")
	for i := range 5000 {
		must(t, es.AddAsync(int64(i/100), storeTestRows("s", 1)))
	}
	must(t, db.Close())
	db = storeTestOpen(t, dir)
	es, _ = db.Events("socket_events")
	st, _ := es.Stats(ctx)
	if st.Rows != 5000 || st.Batches != 50 || st.LastEID != 5000 {
		t.Fatalf("after Close+reopen: %+v", st)
	}
}

// TestEventsScanCallbackReenters: fn runs without the lock, so it may add
// events or write the optimize markers while scanning.
func TestEventsScanCallbackReenters(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, "")
	es, _ := db.Events("process_events")
	_, err := es.Add(ctx, 1, storeTestRows("r", 2*eventPageRows))
	must(t, err)
	seen := 0
	done := make(chan error, 1)
	go func() {
		done <- es.Scan(ctx, -1, -1, 0, func(eid uint64, tm int64, row []byte) bool {
			seen++
			if _, err := es.Add(ctx, 2, [][]byte{[]byte("during")}); err != nil {
				t.Error(err)
				return false
			}
			return db.Put(ctx, DomainEvents, "optimize_eid.q", fmt.Append(nil, eid)) == nil
		})
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Scan deadlocked with a re-entrant callback")
	}
	// Rows added during the scan are not part of it.
	if seen != 2*eventPageRows {
		t.Fatalf("scan saw %d rows", seen)
	}
	storeTestExpect(t, db, DomainEvents, "optimize_eid.q", fmt.Sprint(2*eventPageRows))
}

// storeTestPlan returns EXPLAIN QUERY PLAN details for sql.
func storeTestPlan(t *testing.T, db *DB, sql string, args ...any) string {
	t.Helper()
	var details []string
	err := db.withConn(context.Background(), func(c *sqlite3.Conn) error {
		s, _, err := c.Prepare("EXPLAIN QUERY PLAN " + sql)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := bind(s, args...); err != nil {
			return err
		}
		for s.Step() {
			details = append(details, s.ColumnText(3))
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(details, "; ")
}

// TestEventsQueryPlans: a time-range scan reads only the range (the batch
// table's time key gives the eid window, the rowid serves the window), and
// expiry deletes through the time index. No statement scans a whole table.
func TestEventsQueryPlans(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	es, _ := db.Events("process_events")
	for tm := range int64(100) {
		_, err := es.Add(ctx, tm, storeTestRows("r", 10))
		must(t, err)
	}
	must(t, db.withConn(ctx, func(c *sqlite3.Conn) error { return c.Exec("ANALYZE") }))
	rows, batches, index := es.t.rows, es.t.batches, es.t.index
	cases := []struct {
		sql  string
		args []any
		want string
	}{
		{es.sql.bounds, []any{40, 50}, "SEARCH " + batches + " USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		{es.sql.page, []any{400, 510, 40, 50, 513}, "SEARCH " + rows + " USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		{es.sql.deleteRows, []any{40}, "SEARCH " + rows + " USING INDEX " + index + " (time<?)"},
		{es.sql.deleteBatches, []any{40}, "SEARCH " + batches + " USING INTEGER PRIMARY KEY (rowid<?)"},
		{es.sql.chunk, []any{40, 100}, "SEARCH " + batches + " USING INTEGER PRIMARY KEY (rowid<?)"},
		{"SELECT value FROM kv WHERE domain = ? AND key >= ? AND key < ? ORDER BY key LIMIT 10", []any{"logs", "a", "b"},
			"SEARCH kv USING PRIMARY KEY (domain=? AND key>? AND key<?)"},
	}
	for _, c := range cases {
		plan := storeTestPlan(t, db, c.sql, c.args...)
		if plan != c.want {
			t.Errorf("plan of %s:\n got %s\nwant %s", c.sql, plan, c.want)
		}
		if strings.Contains(plan, "SCAN") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("full scan or sort in %s: %s", c.sql, plan)
		}
	}
}

// TestEventsConcurrent runs writers, async writers, scanners and expiry at
// once (meant for -race); every scan sees strictly increasing eids with no
// gap below its window's end except what expiry removed, and no row is
// lost.
func TestEventsConcurrent(t *testing.T) {
	ctx := context.Background()
	db, err := OpenWithOptions(t.TempDir(), Options{FlushInterval: 5 * time.Millisecond, FlushRows: 64})
	must(t, err)
	defer db.Close()
	es, _ := db.Events("process_events")
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	var accepted atomic.Int64
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				tm := time.Now().Unix()
				rows := storeTestRows(fmt.Sprintf("w%d-%d-", w, i), 1+i%3)
				var err error
				if w%2 == 0 {
					_, err = es.Add(ctx, tm, rows)
				} else {
					err = es.AddAsync(tm, rows)
				}
				if err != nil {
					t.Error(err)
					return
				}
				accepted.Add(int64(len(rows)))
			}
		}()
	}
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var last uint64
				err := es.Scan(ctx, -1, -1, 0, func(eid uint64, _ int64, _ []byte) bool {
					if eid <= last {
						t.Errorf("eid %d after %d", eid, last)
						return false
					}
					last = eid
					return true
				})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := es.Stats(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if _, err := es.LimitBatches(ctx, 1000000); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	must(t, es.Flush(ctx))
	st, err := es.Stats(ctx)
	must(t, err)
	if st.Rows != accepted.Load() || st.LastEID != uint64(accepted.Load()) {
		t.Fatalf("Stats %+v, accepted %d", st, accepted.Load())
	}
	got := storeTestScan(t, es, -1, -1, 0)
	for i, e := range got {
		if e.eid != uint64(i+1) {
			t.Fatalf("row %d has eid %d", i, e.eid)
		}
	}
}

func TestEventsNames(t *testing.T) {
	db := storeTestOpen(t, "")
	for _, bad := range []string{"", strings.Repeat("x", 256)} {
		if _, err := db.Events(bad); err == nil {
			t.Errorf("Events(%.10q...) accepted", bad)
		}
	}
	// Any other name is fine: table names come from ids.
	for _, name := range []string{"a b", "x'; DROP TABLE kv; --", "日本", "\x00"} {
		es, err := db.Events(name)
		if err != nil {
			t.Fatalf("Events(%q): %v", name, err)
		}
		if _, err := es.Add(context.Background(), 1, [][]byte{[]byte(name)}); err != nil {
			t.Fatal(err)
		}
		if es.Name() != name {
			t.Fatal(es.Name())
		}
	}
	if err := db.Put(context.Background(), DomainLogs, "still", nil); err != nil {
		t.Fatal(err)
	}
}
