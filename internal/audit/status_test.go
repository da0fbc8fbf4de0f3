package audit

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStatusMaskBitsMatchKernel(t *testing.T) {
	for _, c := range []struct{ ours, kernel uint32 }{
		{StatusEnabled, unix.AUDIT_STATUS_ENABLED},
		{StatusFailure, unix.AUDIT_STATUS_FAILURE},
		{StatusPID, unix.AUDIT_STATUS_PID},
		{StatusRateLimit, unix.AUDIT_STATUS_RATE_LIMIT},
		{StatusBacklogLimit, unix.AUDIT_STATUS_BACKLOG_LIMIT},
		{StatusBacklogWaitTime, unix.AUDIT_STATUS_BACKLOG_WAIT_TIME},
		{StatusLost, unix.AUDIT_STATUS_LOST},
		{StatusBacklogWaitTimeActual, unix.AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL},
	} {
		if c.ours != c.kernel {
			t.Errorf("mask bit %#x, kernel %#x", c.ours, c.kernel)
		}
	}
}

func TestStatusMarshalLayout(t *testing.T) {
	s := Status{Mask: 1, Enabled: 2, Failure: 3, PID: 4, RateLimit: 5, BacklogLimit: 6, Lost: 7,
		Backlog: 8, FeatureBitmap: 9, BacklogWaitTime: 10, BacklogWaitTimeActual: 11}
	b := s.Marshal()
	if len(b) != 44 {
		t.Fatalf("len %d, want 44", len(b))
	}
	// Every field is a little-endian u32 at 4*i: mask@0 ... backlog_wait_time_actual@40.
	for i := 0; i < 11; i++ {
		if got := binary.LittleEndian.Uint32(b[4*i:]); got != uint32(i+1) {
			t.Errorf("offset %d: %d, want %d", 4*i, got, i+1)
		}
	}
	back, err := ParseStatus(b)
	if err != nil || back != s {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestParseStatus(t *testing.T) {
	// The AUDIT_GET reply measured on this kind of VM (notes §0).
	want := Status{Enabled: 0, Failure: 1, PID: 0, BacklogLimit: 64, FeatureBitmap: 0x7f, BacklogWaitTime: 15000}
	b := want.Marshal()
	got, err := ParseStatus(b)
	if err != nil || got != want {
		t.Fatalf("%+v %v", got, err)
	}
	// Older kernels send a prefix: the tail stays zero.
	got, err = ParseStatus(b[:36])
	if err != nil || got.FeatureBitmap != 0x7f || got.BacklogWaitTime != 0 {
		t.Errorf("36 bytes: %+v %v", got, err)
	}
	// Newer kernels may append fields.
	if got, err = ParseStatus(append(bytes.Clone(b), 1, 2, 3, 4, 5)); err != nil || got != want {
		t.Errorf("longer: %+v %v", got, err)
	}
	for _, n := range []int{0, 4, 31} {
		if _, err := ParseStatus(b[:n]); err == nil {
			t.Errorf("%d bytes accepted", n)
		}
	}
	if s := want.String(); s != "enabled=0 failure=1 pid=0 rate_limit=0 backlog_limit=64 lost=0 backlog=0 feature_bitmap=0x7f backlog_wait_time=15000 backlog_wait_time_actual=0" {
		t.Errorf("String: %s", s)
	}
}
