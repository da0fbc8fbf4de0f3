package system

import (
	"context"
	"testing"

	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// BenchmarkProcessesSQL lists every process through SQLite with the columns
// the ps comparison uses (bench/processes_vs_ps.sh).
func BenchmarkProcessesSQL(b *testing.B) {
	db, err := sqlengine.Open(tabletest.HostEnv(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		res, err := db.Query(context.Background(), "select pid, parent, name, cmdline from processes")
		if err != nil {
			b.Fatal(err)
		}
		rows += len(res.Rows)
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}

// BenchmarkProcessesAllColumns is SELECT *, which reads every /proc file.
func BenchmarkProcessesAllColumns(b *testing.B) {
	db, err := sqlengine.Open(tabletest.HostEnv(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Query(context.Background(), "select * from processes"); err != nil {
			b.Fatal(err)
		}
	}
}
