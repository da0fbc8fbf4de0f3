package utility

import (
	"strconv"
	"testing"
	"time"
	_ "time/tzdata" // zones for timeRowAt, whatever the host has installed

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestTimeFixedClock(t *testing.T) {
	env := tabletest.HostEnv(t)
	at := time.Date(2025, time.January, 6, 12, 34, 56, 789_000_000, time.UTC)
	env.Now = func() time.Time { return at }
	rows := tabletest.Query(t, env, "select * from time")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	zone, _ := at.In(time.Local).Zone()
	want := map[string]string{
		"weekday": "Monday", "year": "2025", "month": "1", "day": "6", "hour": "12", "minutes": "34", "seconds": "56",
		"timezone": "UTC", "local_timezone": zone, "unix_time": "1736166896",
		"timestamp": "Mon Jan  6 12:34:56 2025 UTC", "datetime": "2025-01-06T12:34:56Z", "iso_8601": "2025-01-06T12:34:56Z",
	}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, rows[0][k], v)
		}
	}
}

func TestTimeRowAt(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// 23:59:59 on the 31st in UTC is still the 31st in New York, but the
	// row is in UTC whatever the local zone: only local_timezone follows it.
	at := time.Date(2024, time.December, 31, 23, 59, 59, 0, ny)
	r := timeRowAt(at, ny)
	if r.Year != 2025 || r.Month != 1 || r.Day != 1 || r.Hour != 4 || r.Weekday != "Wednesday" {
		t.Errorf("UTC fields %+v", r)
	}
	if r.LocalTimezone != "EST" || r.Timezone != "UTC" {
		t.Errorf("zones %q %q", r.LocalTimezone, r.Timezone)
	}
	if r.Timestamp != "Wed Jan  1 04:59:59 2025 UTC" || r.ISO8601 != "2025-01-01T04:59:59Z" || r.Datetime != r.ISO8601 {
		t.Errorf("formats %q %q", r.Timestamp, r.ISO8601)
	}
	if r := timeRowAt(time.Date(2025, time.July, 15, 0, 0, 0, 0, time.UTC), ny); r.LocalTimezone != "EDT" || r.Timestamp != "Tue Jul 15 00:00:00 2025 UTC" {
		t.Errorf("summer %+v", r)
	}
	// A zone with no abbreviation reads as UTC, as osquery's fallback.
	if r := timeRowAt(time.Unix(0, 0), time.FixedZone("", 3600)); r.LocalTimezone != "UTC" {
		t.Errorf("unnamed zone: %q", r.LocalTimezone)
	}
}

func TestTimeLive(t *testing.T) {
	before := time.Now().Unix()
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select unix_time, year, weekday, timezone from time")
	after := time.Now().Unix()
	got, _ := strconv.ParseInt(rows[0]["unix_time"], 10, 64)
	if got < before || got > after {
		t.Errorf("unix_time %d not in [%d, %d]", got, before, after)
	}
	if now := time.Unix(got, 0).UTC(); rows[0]["year"] != strconv.Itoa(now.Year()) || rows[0]["weekday"] != now.Weekday().String() {
		t.Errorf("row %v", rows[0])
	}
}
