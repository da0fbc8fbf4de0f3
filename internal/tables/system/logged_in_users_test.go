package system

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestLoggedInUsersFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select * from logged_in_users")
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s|%s|%s|%.20s|%s|%s", r["type"], r["user"], r["tty"], r["host"], r["time"], r["pid"]))
	}
	want := []string{
		"boot_time|reboot|~|6.1.0-test|1700000000|0",
		"runlevel|runlevel|~|6.1.0-test|1700000005|53",
		// The INIT_PROCESS record of pid 1 is skipped, as in osquery.
		"login|LOGIN|tty1||1700000010|612",
		"user|alice|pts/0|192.0.2.10|1700000100|4242",
		"user|" + strings.Repeat("u", 32) + "|pts/1|abcdefghijklmnopqrst|1700000200|4300",
		"user|b\xff\xfeob|pts/2|host with spaces (x)|2147483748|4400",
		"user|root|tty1||1700000300|700",
		"dead||pts/0||1700000400|4242",
	}
	acctCompareLines(t, got, want)
	if rows := tabletest.Query(t, env, "select user from logged_in_users where type = 'user' and host != ''"); len(rows) != 3 {
		t.Errorf("remote sessions: %v", rows)
	}
	// A host without utmp has no sessions, and no error.
	env.Root = t.TempDir()
	if rows := tabletest.Query(t, env, "select * from logged_in_users"); len(rows) != 0 {
		t.Errorf("no utmp: %v", rows)
	}
}

func TestLoggedInUsersUnknownType(t *testing.T) {
	env, dir := acctFixture(t)
	rec := make([]byte, utmpRecordSize)
	binary.NativeEndian.PutUint16(rec[0:], 42)
	binary.NativeEndian.PutUint32(rec[4:], 99)
	copy(rec[44:], "who")
	if err := os.WriteFile(dir+"/var/run/utmp", rec, 0o644); err != nil {
		t.Fatal(err)
	}
	rows := tabletest.Query(t, env, "select type, user, pid, time from logged_in_users")
	if len(rows) != 1 || rows[0]["type"] != "unknown" || rows[0]["user"] != "who" || rows[0]["pid"] != "99" || rows[0]["time"] != "0" {
		t.Errorf("got %v", rows)
	}
}

// TestLoggedInUsersLive decodes the host's utmp independently (fixed
// offsets with encoding/binary) and compares.
func TestLoggedInUsersLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from logged_in_users")
	b, err := os.ReadFile("/var/run/utmp")
	if err != nil {
		if len(rows) != 0 {
			t.Errorf("no /var/run/utmp (%v) but %d rows", err, len(rows))
		}
		return
	}
	var want []string
	for i := 0; i+384 <= len(b); i += 384 {
		r := b[i : i+384]
		pid := int32(binary.NativeEndian.Uint32(r[4:]))
		if pid == 1 {
			continue
		}
		user := strings.TrimRight(string(r[44:76]), "\x00")
		if j := strings.IndexByte(user, 0); j >= 0 {
			user = user[:j]
		}
		want = append(want, fmt.Sprintf("%s|%d|%d", user, pid, binary.NativeEndian.Uint32(r[340:])))
	}
	var got []string
	for _, r := range rows {
		got = append(got, r["user"]+"|"+r["pid"]+"|"+r["time"])
	}
	// utmp changes as people log in and out; compare only when stable.
	if b2, _ := os.ReadFile("/var/run/utmp"); string(b2) == string(b) {
		acctCompareLines(t, got, want)
	}
}
