package procfs

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestParseMountsCaptured(t *testing.T) {
	b, err := os.ReadFile("testdata/mounts")
	if err != nil {
		t.Fatal(err)
	}
	ms := ParseMounts(b)
	if len(ms) != 20 {
		t.Fatalf("%d mounts, want 20", len(ms))
	}
	want := Mount{Device: "/dev/vda", Path: "/", Type: "ext4", Options: "rw,relatime,discard,resv_strict,resuid=65534,resgid=65534"}
	if ms[5] != want {
		t.Errorf("root mount = %+v, want %+v", ms[5], want)
	}
}

func TestParseMountsHostile(t *testing.T) {
	in := "# comment line\n" +
		"/dev/sdb1 /media/My\\040Disk\\011(tab) vfat rw,uid=1000 0 2\n" +
		"server:/a\\134b /mnt/back\\134slash nfs4 rw\n" + // no freq/passno
		"short /only-two\n" +
		"dev /noopts ext4\n" +
		"dev /bad\\400escape\\04 ext4 rw x y\n" +
		"\xff\xfe /\xff ext4 rw 0 0\n" +
		"   \n" +
		"last /truncated ext"
	ms := ParseMounts([]byte(in))
	want := []Mount{
		{Device: "/dev/sdb1", Path: "/media/My Disk\t(tab)", Type: "vfat", Options: "rw,uid=1000", Passno: 2},
		{Device: `server:/a\b`, Path: `/mnt/back\slash`, Type: "nfs4", Options: "rw"},
		{Device: "dev", Path: "/noopts", Type: "ext4"},
		{Device: "dev", Path: `/bad\400escape\04`, Type: "ext4", Options: "rw"},
		{Device: "\xff\xfe", Path: "/\xff", Type: "ext4", Options: "rw"},
		{Device: "last", Path: "/truncated", Type: "ext"},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d mounts: %+v", len(ms), ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, ms[i], want[i])
		}
	}
}

func TestMountsLive(t *testing.T) {
	ms, err := New("/proc").Mounts()
	if err != nil {
		t.Fatal(err)
	}
	// /proc/self/mountinfo is a different file of the same table: the
	// mount points must agree.
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			points = append(points, unescapeMountField([]byte(fields[4])))
		}
	}
	if len(points) != len(ms) {
		t.Fatalf("%d mounts, mountinfo has %d", len(ms), len(points))
	}
	for i := range ms {
		if ms[i].Path != points[i] {
			t.Errorf("mount %d: path %q, mountinfo %q", i, ms[i].Path, points[i])
		}
	}
}

func FuzzParseMounts(f *testing.F) {
	if b, err := os.ReadFile("testdata/mounts"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a b c d 1 2\n\\0 \\\\ \\777 x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range ParseMounts(b) {
			if m.Device == "" || m.Path == "" || m.Type == "" {
				t.Fatalf("empty mandatory field in %+v", m)
			}
		}
	})
}
