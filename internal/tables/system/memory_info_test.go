package system

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestMemoryInfoLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from memory_info")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	unit := uint64(si.Unit)
	for col, want := range map[string]uint64{
		"memory_total": uint64(si.Totalram) * unit,
		"swap_total":   uint64(si.Totalswap) * unit,
	} {
		if got := rows[0][col]; got != strconv.FormatUint(want, 10) {
			t.Errorf("%s = %s, sysinfo %d", col, got, want)
		}
	}
	// Free memory moves; it must at least be within the total.
	free, _ := strconv.ParseUint(rows[0]["memory_free"], 10, 64)
	if free == 0 || free > uint64(si.Totalram)*unit {
		t.Errorf("memory_free %d", free)
	}
}

func TestMemoryInfoFixture(t *testing.T) {
	// A 3.10 kernel: no MemAvailable.
	dir := t.TempDir()
	meminfo := "MemTotal:        1000 kB\nMemFree:          200 kB\nBuffers:           10 kB\nCached:            20 kB\nSwapCached:         0 kB\nActive:            30 kB\nInactive:          40 kB\nActive(anon):      99 kB\nSwapTotal:        500 kB\nSwapFree:         400 kB\n"
	if err := os.WriteFile(filepath.Join(dir, "meminfo"), []byte(meminfo), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = dir
	rows := tabletest.Query(t, env, "select * from memory_info")
	want := map[string]string{
		"memory_total": "1024000", "memory_free": "204800", "memory_available": tabletest.Null, "buffers": "10240",
		"cached": "20480", "swap_cached": "0", "active": "30720", "inactive": "40960", "swap_total": "512000", "swap_free": "409600",
	}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, rows[0][k], v)
		}
	}
	env.ProcRoot = filepath.Join(dir, "missing")
	if _, err := tabletest.TryQuery(env, "select * from memory_info"); err == nil {
		t.Error("no error without /proc/meminfo")
	}
}
