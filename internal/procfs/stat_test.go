package procfs

import (
	"bytes"
	"os"
	"testing"
)

// Captured /proc/<pid>/stat of kthreadd and of a sleep (a 6.18 kernel).
func TestParseStatCaptured(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   Stat
		kernel bool
	}{
		{"kthreadd", Stat{PID: 2, Comm: "kthreadd", State: 'S', Flags: 2129984, Nice: 0, Threads: 1, StartTime: 23}, true},
		{"sleep", Stat{PID: 7060, Comm: "sleep", State: 'S', PPID: 7056, PGRP: 7056, Session: 1082, Flags: 4194304, Threads: 1, StartTime: 857058, VSize: 2990080, RSS: 416}, false},
	} {
		b, err := os.ReadFile("testdata/pid_stat/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseStat(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if tc.file == "kthreadd" {
			tc.want.STime = 5
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.want)
		}
		if k := got.Flags&PFKernelThread != 0; k != tc.kernel {
			t.Errorf("%s: kernel thread %v", tc.file, k)
		}
	}
}

// A comm may hold spaces and parentheses; fields are counted after the
// last ')'.
func TestParseStatHostileComm(t *testing.T) {
	b := []byte("42 (a) b (c) Z 1 42 42 0 -1 4194308 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	s, err := ParseStat(b)
	if err != nil || s.Comm != "a) b (c" || s.State != 'Z' || s.PPID != 1 || s.StartTime != 99 || s.Flags != 4194308 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "42 a S 1", "42 (x) S 1 2 3", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	for _, name := range []string{"kthreadd", "sleep"} {
		if b, err := os.ReadFile("testdata/pid_stat/" + name); err == nil {
			f.Add(b)
		}
	}
	// Untrusted bytes (a comm is chosen by the process) never panic, and
	// an accepted line has its comm between the first '(' and the last ')'.
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err == nil && !bytes.Contains(b, []byte("("+s.Comm+")")) {
			t.Errorf("comm %q not found in %q", s.Comm, b)
		}
	})
}
