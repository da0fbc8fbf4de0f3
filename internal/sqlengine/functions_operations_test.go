package sqlengine

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		{"sleep(0)", 0},
		{"sleep(-5)", 0},
		{"sleep(NULL)", 0},
		{"sleep('x')", 0},
		{"sleep(0.9)", 0},
		// 2^32 reads as 0 through sqlite3_value_int.
		{"sleep(4294967296)", 0},
	})
	start := time.Now()
	fnCheck(t, db, []fnCase{{"sleep(1)", 1}})
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Fatalf("sleep(1) took %v", d)
	}
}

// TestSleepNotFactoredOut: sleep is not deterministic, so SQLite calls it
// once per row rather than once per statement.
func TestSleepNotFactoredOut(t *testing.T) {
	db, _ := fnTestDB(t)
	start := time.Now()
	fnCheck(t, db, []fnCase{{"sum(sleep(1)) from (select 1 union all select 2)", 2}})
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("two sleep(1) calls took %v", d)
	}
}

// TestSleepInterrupted: cancelling the statement's context ends a long
// sleep at once and fails the statement.
func TestSleepInterrupted(t *testing.T) {
	db, _ := fnTestDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.Query(ctx, "select sleep(30)")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("interrupted sleep took %v", d)
	}
	var se *Error
	if !errors.As(err, &se) || se.Msg != "interrupted" {
		t.Fatalf("want an interrupt error, got %v", err)
	}
	// The connection is usable afterwards.
	fnCheck(t, db, []fnCase{{"sleep(0)", 0}})
}

// TestSleepCapped: requests beyond maxSleep are cut to it; the wait itself
// is exercised by the tests above.
func TestSleepCapped(t *testing.T) {
	if maxSleep > time.Minute {
		t.Fatalf("maxSleep %v exceeds a minute", maxSleep)
	}
	for secs, want := range map[int64]time.Duration{
		-1:         0,
		0:          0,
		1:          time.Second,
		60:         maxSleep,
		61:         maxSleep,
		1<<31 - 1:  maxSleep,
		-(1 << 31): 0,
	} {
		if got := sleepDuration(secs); got != want {
			t.Errorf("sleepDuration(%d) = %v, want %v", secs, got, want)
		}
	}
}
