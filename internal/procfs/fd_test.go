package procfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestParseInodeLink(t *testing.T) {
	cases := []struct {
		link, kind string
		ino        uint64
		ok         bool
	}{
		{"socket:[17506]", "socket", 17506, true},
		{"net:[4026531840]", "net", 4026531840, true},
		{"socket:[18446744073709551615]", "socket", 18446744073709551615, true},
		{"socket:[18446744073709551616]", "socket", 0, false},
		{"socket:[0]", "socket", 0, false},
		{"socket:[]", "socket", 0, false},
		{"socket:[+5]", "socket", 0, false},
		{"socket:[-5]", "socket", 0, false},
		{"socket:[12", "socket", 0, false},
		{"socket:12]", "socket", 0, false},
		{"pipe:[17506]", "socket", 0, false},
		{"/tmp/socket:[1]", "socket", 0, false},
		{"anon_inode:[eventfd]", "anon_inode", 0, false},
	}
	for _, c := range cases {
		ino, ok := ParseInodeLink(c.link, c.kind)
		if ino != c.ino || ok != c.ok {
			t.Errorf("ParseInodeLink(%q, %q) = %d, %v; want %d, %v", c.link, c.kind, ino, ok, c.ino, c.ok)
		}
	}
}

func TestFDsLive(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd test (x)")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := New("/proc").FDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, fd := range fds {
		if i > 0 && fds[i-1].Num >= fd.Num {
			t.Errorf("fds not sorted: %d then %d", fds[i-1].Num, fd.Num)
		}
		if fd.Num == int64(f.Fd()) {
			found = true
			if fd.Link != f.Name() {
				t.Errorf("fd %d links to %q, want %q", fd.Num, fd.Link, f.Name())
			}
		}
	}
	if !found {
		t.Errorf("fd %d of %s not listed", f.Fd(), f.Name())
	}
	if _, err := New("/proc").FDs(-5); err == nil {
		t.Error("FDs of a missing pid did not fail")
	}
}

func TestNamespace(t *testing.T) {
	fs := New("/proc")
	ino, err := fs.Namespace(os.Getpid(), "net")
	if err != nil {
		t.Skipf("no namespace links: %v", err)
	}
	st := mustStat(t, "/proc/self/ns/net")
	if ino != st {
		t.Errorf("Namespace = %d, stat of the link target = %d", ino, st)
	}

	// A fixture whose link is not kind:[inode] is an error, not a zero.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "1", "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bogus", filepath.Join(dir, "1", "ns", "net")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir).Namespace(1, "net"); err == nil {
		t.Error("bogus namespace link accepted")
	}
}

func FuzzParseInodeLink(f *testing.F) {
	f.Add("socket:[17506]", "socket")
	f.Add("net:[4026531840]", "net")
	f.Fuzz(func(t *testing.T, link, kind string) {
		if ino, ok := ParseInodeLink(link, kind); ok && ino == 0 {
			t.Fatal("ok with inode 0")
		}
	})
}

func mustStat(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
