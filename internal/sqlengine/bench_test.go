package sqlengine

import (
	"context"
	"strconv"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
)

const benchRows = 100000

type benchRow struct {
	ID   int64  `col:"id"`
	Name string `col:"name"`
	Size int64  `col:"size"`
}

var benchNames = func() []string {
	out := make([]string, 100)
	for i := range out {
		out[i] = "process-name-" + strconv.Itoa(i)
	}
	return out
}()

func benchGenerate(ctx context.Context, q *table.Query, emit func(benchRow)) error {
	for i := 0; i < benchRows; i++ {
		emit(benchRow{ID: int64(i), Name: benchNames[i%100], Size: int64(i) * 4096})
	}
	return nil
}

func benchDB(b *testing.B) *DB {
	reg := table.NewRegistry()
	d, err := table.New(table.Spec{
		Name:    "bench",
		Columns: []table.Column{table.BigInt("id").Index(), table.Text("name"), table.BigInt("size")},
	}, benchGenerate)
	if err != nil {
		b.Fatal(err)
	}
	reg.Add(d)
	db, err := Open(table.HostEnv(flags.Standard(), reg, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAdapter measures rows per second through the virtual table
// adapter, beside the same rows in an ordinary SQLite table and beside the
// generator alone, in one run.
func BenchmarkAdapter(b *testing.B) {
	ctx := context.Background()
	b.Run("vtab_count", func(b *testing.B) {
		db := benchDB(b)
		for b.Loop() {
			if _, err := db.Query(ctx, "select count(*) from bench where size >= 0"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("native_table_count", func(b *testing.B) {
		db := benchDB(b)
		if _, err := db.Query(ctx, "create temp table native as select * from bench"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := db.Query(ctx, "select count(*) from native where size >= 0"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("vtab_all_columns", func(b *testing.B) {
		db := benchDB(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Query(ctx, "select * from bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("generator_only", func(b *testing.B) {
		n := 0
		for b.Loop() {
			benchGenerate(ctx, nil, func(r benchRow) { n += int(r.ID & 1) })
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
