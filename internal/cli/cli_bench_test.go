package cli

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkShellSelect1 is the in-process part of `osqueryi "select 1"`:
// flag parsing, opening the engine with every table attached, the query
// and printing. Process start-up comes on top (bench/cold_start.sh).
func BenchmarkShellSelect1(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if rc := run([]string{"osqueryi", "select 1"}, strings.NewReader(""), io.Discard, io.Discard); rc != 0 {
			b.Fatal(rc)
		}
	}
}
