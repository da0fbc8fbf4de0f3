package system

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseUtmpMatchesGlibc decodes the utmp and wtmp files written by
// glibc's pututxline/updwtmpx (testdata/utmp/gen.c) and compares them with
// glibc's own getutxent dump of the same files.
func TestParseUtmpMatchesGlibc(t *testing.T) {
	for _, name := range []string{"utmp", "wtmp"} {
		var got []string
		err := utmpEach(context.Background(), acctRoot{}, filepath.Join(mustAbs(t, "testdata/utmp"), name), func(r utmpRecord) {
			got = append(got, fmt.Sprintf("%d|%d|%s|%s|%s|%s|%d", r.Type, r.PID, r.Line, r.ID, r.User, r.Host, r.Sec))
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile("testdata/utmp/" + name + ".glibc")
		if err != nil {
			t.Fatal(err)
		}
		acctCompareLines(t, got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseUtmpRecordFields(t *testing.T) {
	b, err := os.ReadFile("testdata/utmp/utmp")
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%utmpRecordSize != 0 {
		t.Fatalf("fixture is %d bytes, not a whole number of records", len(b))
	}
	// Record 4 is alice's ssh login.
	r, ok := parseUtmpRecord(b[4*utmpRecordSize:])
	if !ok {
		t.Fatal("record 4 not parsed")
	}
	if r.Type != utmpUserProcess || r.PID != 4242 || r.Line != "pts/0" || r.ID != "ts/0" || r.User != "alice" ||
		r.Host != "192.0.2.10" || r.Session != 4242 || r.Sec != 1700000100 || r.Usec != 4 || r.Addr != [16]byte{192, 0, 2, 10} {
		t.Errorf("record 4: %+v", r)
	}
	// Record 5 fills ut_user and ut_host completely: no NUL terminator.
	r, _ = parseUtmpRecord(b[5*utmpRecordSize:])
	if r.User != strings.Repeat("u", 32) || len(r.Host) != 256 {
		t.Errorf("full fields: user %q host %d bytes", r.User, len(r.Host))
	}
	// Record 6 has a non-UTF-8 user and a time past 2038.
	r, _ = parseUtmpRecord(b[6*utmpRecordSize:])
	if r.User != "b\xff\xfeob" || r.Sec != 2147483748 || r.Host != "host with spaces (x)" {
		t.Errorf("record 6: %+v", r)
	}
	if _, ok := parseUtmpRecord(b[:utmpRecordSize-1]); ok {
		t.Errorf("short record accepted")
	}
}

// TestUtmpTruncated checks that a partial trailing record is ignored.
func TestUtmpTruncated(t *testing.T) {
	b, err := os.ReadFile("testdata/utmp/wtmp")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "wtmp")
	if err := os.WriteFile(p, b[:3*utmpRecordSize+100], 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := utmpEach(context.Background(), acctRoot{}, p, func(utmpRecord) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d records, want 3", n)
	}
}

func FuzzParseUtmpRecord(f *testing.F) {
	if b, err := os.ReadFile("testdata/utmp/utmp"); err == nil {
		for i := 0; i+utmpRecordSize <= len(b); i += utmpRecordSize {
			f.Add(b[i : i+utmpRecordSize])
		}
	}
	f.Add(make([]byte, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseUtmpRecord(b)
		if ok != (len(b) >= utmpRecordSize) {
			t.Fatalf("ok=%v for %d bytes", ok, len(b))
		}
		if len(r.User) > 32 || len(r.Line) > 32 || len(r.Host) > 256 || len(r.ID) > 4 {
			t.Fatalf("field overflow: %+v", r)
		}
	})
}
