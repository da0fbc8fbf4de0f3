package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// A process_events-sized row (JSON of ~20 columns).
var storeBenchRow = []byte(`{"atime":"1700000000","auid":"1000","btime":"0","cmdline":"/usr/bin/ls --color=auto -la /tmp","ctime":"1700000000","cwd":"\"/home/user\"","egid":"1000","euid":"1000","fsgid":"1000","fsuid":"1000","gid":"1000","mode":"0100755","mtime":"1700000000","owner_gid":"0","owner_uid":"0","parent":"4242","path":"/usr/bin/ls","pid":"4243","sgid":"1000","suid":"1000","uid":"1000","uptime":"12345"}`)

func storeBenchRows(n int) [][]byte {
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = storeBenchRow
	}
	return rows
}

func storeBenchRate(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEventsAdd: rows per second through Add (one transaction per
// call) and AddAsync (one transaction per flush), for 1-row and 100-row
// batches, on a file store (WAL, synchronous=NORMAL).
func BenchmarkEventsAdd(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{1, 100} {
		rows := storeBenchRows(size)
		b.Run(fmt.Sprintf("sync/%drows", size), func(b *testing.B) {
			db, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			es, _ := db.Events("process_events")
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := es.Add(ctx, int64(i/1000), rows); err != nil {
					b.Fatal(err)
				}
			}
			storeBenchRate(b, b.N*size)
		})
		b.Run(fmt.Sprintf("async/%drows", size), func(b *testing.B) {
			db, err := OpenWithOptions(b.TempDir(), Options{MaxPendingRows: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			es, _ := db.Events("process_events")
			b.ResetTimer()
			for i := range b.N {
				if err := es.AddAsync(int64(i/1000), rows); err != nil {
					b.Fatal(err)
				}
			}
			// Count the writing, not just the queueing: the timer runs
			// until every row is committed.
			if err := es.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			storeBenchRate(b, b.N*size)
		})
	}
}

// BenchmarkRawSQLiteInsert is the baseline: the same rows inserted with a
// bare prepared INSERT on a connection configured like the store's, one
// transaction per row, per 100 rows and per 1000 rows.
func BenchmarkRawSQLiteInsert(b *testing.B) {
	for _, perTx := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("%drows_per_tx", perTx), func(b *testing.B) {
			c, err := sqlite3.Open(filepath.Join(b.TempDir(), "raw.sqlite"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
				CREATE TABLE ev(eid INTEGER PRIMARY KEY, time INTEGER NOT NULL, data BLOB NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			s, _, err := c.Prepare("INSERT INTO ev(eid, time, data) VALUES(?, ?, ?)")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			eid := int64(0)
			for i := 0; b.Loop(); i++ {
				if err := c.Exec("BEGIN"); err != nil {
					b.Fatal(err)
				}
				for range perTx {
					eid++
					s.BindInt64(1, eid)
					s.BindInt64(2, int64(i/1000))
					s.BindBlob(3, storeBenchRow)
					if err := s.Exec(); err != nil {
						b.Fatal(err)
					}
				}
				if err := c.Exec("COMMIT"); err != nil {
					b.Fatal(err)
				}
			}
			storeBenchRate(b, b.N*perTx)
		})
	}
}

// BenchmarkEventsScan: rows per second read back, whole buffer and a 1%
// time range, from 100000 stored rows in 1000 batches.
func BenchmarkEventsScan(b *testing.B) {
	ctx := context.Background()
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	es, _ := db.Events("process_events")
	rows := storeBenchRows(100)
	for tm := range int64(1000) {
		if _, err := es.Add(ctx, tm, rows); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name     string
		from, to int64
		want     int
	}{{"all", -1, -1, 100000}, {"range1pct", 500, 509, 1000}} {
		b.Run(c.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				n := 0
				if err := es.Scan(ctx, c.from, c.to, 0, func(uint64, int64, []byte) bool { n++; return true }); err != nil {
					b.Fatal(err)
				}
				if n != c.want {
					b.Fatalf("scanned %d, want %d", n, c.want)
				}
				total += n
			}
			storeBenchRate(b, total)
		})
	}
	b.Run("raw_select_all", func(b *testing.B) {
		total := 0
		for b.Loop() {
			n := 0
			err := db.withConn(ctx, func(c *sqlite3.Conn) error {
				s, _, err := c.Prepare("SELECT eid, time, data FROM " + es.t.rows + " ORDER BY eid")
				if err != nil {
					return err
				}
				defer s.Close()
				var buf []byte
				for s.Step() {
					_ = s.ColumnInt64(0)
					_ = s.ColumnInt64(1)
					buf = s.ColumnBlob(2, buf[:0])
					n++
				}
				return s.Err()
			})
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		storeBenchRate(b, total)
	})
}

// BenchmarkKV: Put and Get of a differential result-sized value.
func BenchmarkKV(b *testing.B) {
	ctx := context.Background()
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := []byte(strings.Repeat(`{"name":"x","pid":"1"},`, 200))
	b.Run("put", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := db.Put(ctx, DomainQueries, fmt.Sprint("q", i%100), value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := db.Get(ctx, DomainQueries, fmt.Sprint("q", i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update_result_and_counter", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			err := db.Update(ctx, func(tx *Tx) error {
				if err := tx.Put(DomainQueries, "q", value); err != nil {
					return err
				}
				return tx.Put(DomainQueries, "qcounter", []byte(fmt.Sprint(i)))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
