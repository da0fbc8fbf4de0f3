package system

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestCPUTimeLive(t *testing.T) {
	env := tabletest.HostEnv(t)
	first := tabletest.Query(t, env, "select * from cpu_time order by core")
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Skip(err)
	}
	if want := systemInfoCountCPUList(t, string(b)); len(first) != want {
		t.Errorf("%d rows, %d online cpus", len(first), want)
	}
	for i, r := range first {
		if r["core"] != strconv.Itoa(i) {
			t.Errorf("row %d is core %s", i, r["core"])
		}
	}
	// Counters only grow.
	second := tabletest.Query(t, env, "select * from cpu_time order by core")
	for i := range first {
		for _, col := range []string{"user", "system", "idle"} {
			a, _ := strconv.ParseUint(first[i][col], 10, 64)
			b, _ := strconv.ParseUint(second[i][col], 10, 64)
			if b < a {
				t.Errorf("core %d %s went from %d to %d", i, col, a, b)
			}
		}
	}
	// Ticks, not milliseconds: a core accumulates about USER_HZ (100)
	// ticks per second of uptime (a little more in a VM, where steal and
	// idle overlap), ten times fewer than milliseconds.
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	for _, r := range second {
		var sum float64
		for _, col := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
			v, _ := strconv.ParseFloat(r[col], 64)
			sum += v
		}
		if sum > (secs+2)*100*1.2 {
			t.Errorf("core %s: %v ticks in %v s of uptime", r["core"], sum, secs)
		}
	}
}

func TestCPUTimeFixture(t *testing.T) {
	dir := t.TempDir()
	stat := "cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3 4 5 6 7\ncpu2 bad 2 3 4 5 6 7\nintr 1\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = dir
	rows := tabletest.Query(t, env, "select * from cpu_time")
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	cols := []string{"core", "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}
	line := func(r map[string]string) string {
		var f []string
		for _, c := range cols {
			f = append(f, r[c])
		}
		return strings.Join(f, " ")
	}
	if got := line(rows[0]); got != "0 1 2 3 4 5 6 7 8 9 10" {
		t.Errorf("cpu0 %s", got)
	}
	if got := line(rows[1]); got != "1 1 2 3 4 5 6 7 0 0 0" {
		t.Errorf("cpu1 %s", got)
	}
	if rows := tabletest.Query(t, env, "select core from cpu_time where core = 1"); len(rows) != 1 {
		t.Errorf("core = 1: %v", rows)
	}
}
