package procfs

import (
	"os"
	"testing"
)

func TestParseCPUStatCaptured(t *testing.T) {
	b, err := os.ReadFile("testdata/proc_stat")
	if err != nil {
		t.Fatal(err)
	}
	st := ParseCPUStat(b)
	if len(st) != 3 {
		t.Fatalf("%d cpu lines, want 3", len(st))
	}
	want := CPUStat{CPU: 1, User: 7441, System: 3211, Idle: 75189, IOWait: 188, SoftIRQ: 131, Steal: 1338}
	if st[2] != want {
		t.Errorf("cpu1 = %+v, want %+v", st[2], want)
	}
	if st[0].CPU != -1 || st[0].User != 14643 {
		t.Errorf("aggregate = %+v", st[0])
	}
}

func TestParseCPUStatHostile(t *testing.T) {
	in := "cpu0 1 2 3 4 5 6 7\n" + // 2.6-era kernel: no steal/guest
		"cpu1 1 2 3 4 5 6\n" + // too short
		"cpu2 1 2 3 4 5 6 x 8\n" +
		"cpuX 1 2 3 4 5 6 7 8\n" +
		"cpu-1 1 2 3 4 5 6 7 8\n" +
		"cpu3 18446744073709551615 0 0 0 0 0 0 0 0 0 99\n" +
		"cpu4 18446744073709551616 0 0 0 0 0 0\n" +
		"intr 1 2 3\n" +
		"  cpu5 1 2 3 4 5 6 7\n" +
		"cpu6 1 2 3 4 5 6 7 8 9 10"
	st := ParseCPUStat([]byte(in))
	want := []CPUStat{
		{CPU: 0, User: 1, Nice: 2, System: 3, Idle: 4, IOWait: 5, IRQ: 6, SoftIRQ: 7},
		{CPU: 3, User: 18446744073709551615},
		{CPU: 6, User: 1, Nice: 2, System: 3, Idle: 4, IOWait: 5, IRQ: 6, SoftIRQ: 7, Steal: 8, Guest: 9, GuestNice: 10},
	}
	if len(st) != len(want) {
		t.Fatalf("got %+v", st)
	}
	for i := range want {
		if st[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, st[i], want[i])
		}
	}
}

func TestCPUStatLive(t *testing.T) {
	st, err := New("/proc").CPUStat()
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := New("/proc").CPUInfo()
	if err != nil {
		t.Fatal(err)
	}
	// One aggregate line plus one per online CPU.
	if got, want := len(st), Topology(blocks).Logical+1; got != want {
		t.Errorf("%d cpu lines, cpuinfo has %d processors (+1)", got, want-1)
	}
	// The aggregate is the sum of the cores (both are read at once, so the
	// kernel computes them from the same counters, give or take a tick
	// per core that elapsed while it formatted the lines).
	var sum uint64
	for _, s := range st[1:] {
		sum += s.User + s.System + s.Idle
	}
	agg := st[0].User + st[0].System + st[0].Idle
	if d := int64(agg) - int64(sum); d < -int64(len(st)) || d > int64(len(st)) {
		t.Errorf("aggregate %d, sum of cores %d", agg, sum)
	}
}

func FuzzParseCPUStat(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc_stat"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("cpu 1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7 8 9 10 11\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range ParseCPUStat(b) {
			if s.CPU < -1 {
				t.Fatalf("bad cpu %+v", s)
			}
		}
	})
}
