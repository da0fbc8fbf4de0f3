package system

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestMountsLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from mounts")
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != len(lines) {
		t.Fatalf("%d rows, /proc/self/mounts has %d lines", len(rows), len(lines))
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var root map[string]string
	for i, r := range rows {
		f := strings.Fields(lines[i])
		if r["device"] != unescape.Replace(f[0]) || r["path"] != unescape.Replace(f[1]) || r["flags"] != unescape.Replace(f[3]) || r["type"] != f[2] {
			t.Errorf("row %d %v, line %q", i, r, lines[i])
		}
		if r["path"] == "/" {
			root = r
		}
	}
	if root == nil {
		t.Fatal("no row for /")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	// Sizes of the root filesystem do not change under the test; free
	// counts may, a little.
	for col, want := range map[string]uint64{"blocks_size": uint64(st.Bsize), "blocks": st.Blocks, "inodes": st.Files} {
		if root[col] != strconv.FormatUint(want, 10) {
			t.Errorf("/ %s = %s, statfs %d", col, root[col], want)
		}
	}
	free, _ := strconv.ParseUint(root["blocks_free"], 10, 64)
	if d := int64(free) - int64(st.Bfree); d < -100000 || d > 100000 {
		t.Errorf("/ blocks_free %d, statfs %d", free, st.Bfree)
	}
	// The real path of a /dev device.
	if strings.HasPrefix(root["device"], "/dev/") {
		if real, err := filepath.EvalSymlinks(root["device"]); err == nil && root["device_alias"] != real {
			t.Errorf("device_alias %q, want %q", root["device_alias"], real)
		}
	}
}

func TestMountsFixture(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"proc", "root/dev/disk/by-uuid", "root/media/My Disk", "root/auto"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dev/sda1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../sda1", filepath.Join(root, "dev/disk/by-uuid/1234-ABCD")); err != nil {
		t.Fatal(err)
	}
	mounts := "/dev/disk/by-uuid/1234-ABCD /media/My\\040Disk vfat rw,nosuid,uid=1000 0 0\n" +
		"auto.misc /auto autofs rw,fd=7 0 0\n" +
		"server:/export /gone nfs4 rw 0 0\n" +
		"short /x\n"
	if err := os.WriteFile(filepath.Join(dir, "proc/mounts"), []byte(mounts), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = filepath.Join(dir, "proc")
	env.Root = root
	rows := tabletest.Query(t, env, "select * from mounts")
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(root, "media/My Disk"), &st); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"device": "/dev/disk/by-uuid/1234-ABCD", "device_alias": "/dev/sda1", "path": "/media/My Disk", "type": "vfat", "flags": "rw,nosuid,uid=1000", "blocks": strconv.FormatUint(st.Blocks, 10), "blocks_size": strconv.FormatInt(int64(st.Bsize), 10)},
		// autofs is not statfs'ed (that would trigger the automount).
		{"device": "auto.misc", "device_alias": "auto.misc", "path": "/auto", "type": "autofs", "blocks": "0", "blocks_size": "0", "inodes": "0"},
		// statfs fails: zeros.
		{"device": "server:/export", "device_alias": "server:/export", "path": "/gone", "blocks": "0", "blocks_size": "0", "inodes_free": "0"},
	}
	for i, w := range want {
		for k, v := range w {
			if rows[i][k] != v {
				t.Errorf("row %d %s = %q, want %q", i, k, rows[i][k], v)
			}
		}
	}
}

func TestMountsStatfsCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled query does not wait for statfs (it may still win the
	// race and answer; either way the call returns at once).
	_, _ = mountsStatfs(ctx, "/")
	if _, ok := mountsStatfs(context.Background(), "/nonexistent-mount-point"); ok {
		t.Error("statfs of a missing path succeeded")
	}
}
