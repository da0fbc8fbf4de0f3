package system

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestUptimeLive(t *testing.T) {
	var before, after syscall.Sysinfo_t
	if err := syscall.Sysinfo(&before); err != nil {
		t.Fatal(err)
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from uptime")
	if err := syscall.Sysinfo(&after); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	total, _ := strconv.ParseInt(r["total_seconds"], 10, 64)
	if total < int64(before.Uptime) || total > int64(after.Uptime) {
		t.Errorf("total_seconds %d, sysinfo uptime %d..%d", total, before.Uptime, after.Uptime)
	}
	n := func(c string) int64 { v, _ := strconv.ParseInt(r[c], 10, 64); return v }
	if n("days")*86400+n("hours")*3600+n("minutes")*60+n("seconds") != total {
		t.Errorf("parts %v do not add up", r)
	}
}

func TestUptimeFixture(t *testing.T) {
	env := tabletest.HostEnv(t)
	for in, want := range map[string]string{
		"90061.50 100.00\n": "1 1 1 2 90062",
		"59.00 1.00\n":      "0 0 0 59 59",
		"garbage\n":         "",
		"-5.0 1\n":          "",
		"":                  "",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "uptime"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		env.ProcRoot = dir
		rows, err := tabletest.TryQuery(env, "select days, hours, minutes, seconds, total_seconds from uptime")
		got := ""
		if err == nil && len(rows) == 1 {
			r := rows[0]
			got = r["days"] + " " + r["hours"] + " " + r["minutes"] + " " + r["seconds"] + " " + r["total_seconds"]
		}
		if got != want {
			t.Errorf("%q -> %q, %v; want %q", in, got, err, want)
		}
	}
}
