package system

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestLastFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select * from last")
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%.20s", r["username"], r["tty"], r["pid"], r["type"], r["type_name"], r["time"], r["host"]))
	}
	want := []string{
		"alice|pts/0|4242|7|user-process|1700000100|192.0.2.10",
		strings.Repeat("u", 32) + "|pts/1|4300|7|user-process|1700000200|abcdefghijklmnopqrst",
		"b\xff\xfeob|pts/2|4400|7|user-process|2147483748|host with spaces (x)",
		"root|tty1|700|7|user-process|1700000300|",
		"|pts/0|4242|8|dead-process|1700000400|",
	}
	acctCompareLines(t, got, want)
	// Pair logins with logouts as `last` does: same tty and pid.
	rows = tabletest.Query(t, env, `select l.username, o.time - l.time as secs from last l join last o
		on o.tty = l.tty and o.pid = l.pid and o.type = 8 where l.type = 7`)
	if len(rows) != 1 || rows[0]["username"] != "alice" || rows[0]["secs"] != "300" {
		t.Errorf("session pairing: %v", rows)
	}
}

// TestLastLive decodes the host's wtmp independently and compares.
func TestLastLive(t *testing.T) {
	b, err := os.ReadFile("/var/log/wtmp")
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from last")
	if err != nil {
		if len(rows) != 0 {
			t.Errorf("no wtmp (%v) but %d rows", err, len(rows))
		}
		return
	}
	want := 0
	for i := 0; i+384 <= len(b); i += 384 {
		if typ := binary.NativeEndian.Uint16(b[i:]); typ == 7 || typ == 8 {
			want++
		}
	}
	// wtmp only grows: the table read it after us.
	if len(rows) < want {
		t.Errorf("%d rows, wtmp has %d login/logout records", len(rows), want)
	}
	for _, r := range rows {
		if r["type_name"] != "user-process" && r["type_name"] != "dead-process" {
			t.Errorf("row %v", r)
		}
	}
}
