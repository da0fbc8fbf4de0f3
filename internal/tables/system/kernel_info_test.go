package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestKernelInfoLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from kernel_info")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	if r["version"] != unix.ByteSliceToString(uts.Release[:]) {
		t.Errorf("version %q, uname -r %q", r["version"], unix.ByteSliceToString(uts.Release[:]))
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var rest []string
	path, device := "", ""
	for _, a := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(a, "BOOT_IMAGE="); ok {
			path = v
		} else if v, ok := strings.CutPrefix(a, "root="); ok {
			device = v
		} else {
			rest = append(rest, a)
		}
	}
	if r["arguments"] != strings.Join(rest, " ") || r["path"] != path || r["device"] != device {
		t.Errorf("row %v, cmdline %q", r, b)
	}
}

func TestKernelInfoFixture(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("../../procfs/testdata/kernel_cmdline_grub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// No sys/kernel/osrelease: the version comes from /proc/version.
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = dir
	rows := tabletest.Query(t, env, "select * from kernel_info where version >= '6.1.0-9' collate version")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	want := map[string]string{"version": "6.1.0-18-amd64", "arguments": "ro quiet splash", "path": "/boot/vmlinuz-6.1.0-18-amd64", "device": "UUID=6f1c3a2e-8d1b-4c55-9f0e-2b8a7f1d9c40"}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, rows[0][k], v)
		}
	}
	// Nothing readable: one row of empty values, as osquery.
	env.ProcRoot = filepath.Join(dir, "none")
	rows = tabletest.Query(t, env, "select * from kernel_info")
	if len(rows) != 1 || rows[0]["version"] != "" || rows[0]["arguments"] != "" {
		t.Errorf("empty: %v", rows)
	}
}

func TestKernelInfoSplitArgs(t *testing.T) {
	args, path, dev := kernelInfoSplitArgs([]string{"BOOT_IMAGE=(hd0,gpt2)/vmlinuz", "root=/dev/sda1", "root=/dev/sda2", "BOOT_IMAGE=", "rootwait", "init=/bin/sh"})
	if args != "rootwait init=/bin/sh" || path != "" || dev != "/dev/sda2" {
		t.Errorf("%q %q %q", args, path, dev)
	}
}
