package system

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestKernelModulesLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from kernel_modules")
	b, err := os.ReadFile("/proc/modules")
	if errors.Is(err, fs.ErrNotExist) {
		if len(rows) != 0 {
			t.Errorf("%d rows on a kernel without modules", len(rows))
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != len(lines) {
		t.Fatalf("%d rows, /proc/modules has %d lines", len(rows), len(lines))
	}
	for i, r := range rows {
		f := strings.Fields(lines[i])
		if r["name"] != f[0] || r["size"] != f[1] || r["status"] != f[4] || r["address"] != f[5] {
			t.Errorf("row %v, line %q", r, lines[i])
		}
		if _, err := os.Stat("/sys/module/" + r["name"]); err != nil {
			t.Errorf("module %s has no /sys/module entry", r["name"])
		}
	}
}

func TestKernelModulesFixture(t *testing.T) {
	b, err := os.ReadFile("../../procfs/testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "modules"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = dir
	rows := tabletest.Query(t, env, "select * from kernel_modules where used_by != '-' order by size desc limit 2")
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	want := map[string]string{"name": "vboxdrv", "size": "696320", "used_by": "vboxnetadp,vboxnetflt", "status": "Live", "address": "0xffffffffc0e2c000"}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, rows[0][k], v)
		}
	}
	if rows[1]["name"] != "nf_tables" {
		t.Errorf("second %v", rows[1])
	}
	env.ProcRoot = filepath.Join(dir, "none")
	if rows := tabletest.Query(t, env, "select * from kernel_modules"); len(rows) != 0 {
		t.Errorf("no /proc/modules: %v", rows)
	}
}
