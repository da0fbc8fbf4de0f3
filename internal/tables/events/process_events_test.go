package events

import (
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/table"
)

// sampleProcessEventRow is a typical /bin/true row from an exec storm,
// with a six-element ancestry of realistic size.
func sampleProcessEventRow() processEventRow {
	elem := `{"exe_name":"bash","pid":4242,"ppid":4100,"pproc_time_hr":179575257929,"path":"/usr/bin/bash","cmdline":"bash -c end=$((SECONDS+10)); while [ $SECONDS -lt $end ]; do /bin/true gosq-storm; done","proc_time":1795752579,"proc_time_hr":179575257931}`
	return processEventRow{
		PID: 4301, Path: "/usr/bin/true", Mode: "0100755", Cmdline: "/bin/true gosq-storm", CmdlineSize: 20,
		Cwd: "/work/main", AUID: 4294967295, Parent: 4242, Time: 1795752580, Uptime: 14215, Syscall: "execve",
		Atime: 1795700000, Mtime: 1700000000, Ctime: 1700000000, Btime: table.Int(0),
		Ancestry: "[" + strings.Repeat(elem+",", 5) + elem + "]",
	}
}

// The stored form of a row decodes to the same row.
func TestProcessEventRowRoundTrip(t *testing.T) {
	in := sampleProcessEventRow()
	b, err := table.EncodeRow(nil, &processEventsSpec, &in)
	if err != nil {
		t.Fatal(err)
	}
	var out processEventRow
	if err := table.DecodeRow(b, &processEventsSpec, &out); err != nil || out != in {
		t.Fatalf("decoded %+v, %v", out, err)
	}
}

// BenchmarkEncodeProcessEventRow is the per-event cost of turning a row
// into its stored form, paid once per exec.
func BenchmarkEncodeProcessEventRow(b *testing.B) {
	row := sampleProcessEventRow()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := table.EncodeRow(nil, &processEventsSpec, &row); err != nil {
			b.Fatal(err)
		}
	}
}
