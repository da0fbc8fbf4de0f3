package procfs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestReadFileInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An absolute link must resolve inside root, and ".." must not climb
	// out of it.
	if err := os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../../etc/hostname", filepath.Join(root, "etc/escape")); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFileInRoot(root, "/etc/os-release", 1024)
	if err != nil || string(b) != "ID=inside\n" {
		t.Fatalf("got %q, %v", b, err)
	}
	if b, err := ReadFileInRoot(root, "/etc/escape", 1024); err == nil {
		t.Errorf("escaped root: read %q", b)
	}
	if _, err := ReadFileInRoot(root, "/etc/os-release", 3); err == nil {
		t.Error("no error for a file over the cap")
	}
	// "/" reads the host directly.
	if b, err := ReadFileInRoot("/", "/proc/self/stat", 4096); err != nil || !strings.HasPrefix(string(b), strconv.Itoa(os.Getpid())+" ") {
		t.Errorf("host read: %q, %v", b, err)
	}
}

func TestMountNamespaceLive(t *testing.T) {
	id, err := New("/proc").MountNamespace(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	if id != strconv.FormatUint(st.Ino, 10) {
		t.Errorf("namespace id %s, stat says inode %d", id, st.Ino)
	}
}

func TestParseNamespaceLink(t *testing.T) {
	for in, want := range map[string]string{
		"mnt:[4026531841]": "4026531841",
		"mnt:[]":           "",
		"mnt:4026531841":   "",
		"mnt:[12":          "",
		"mnt:[1a]":         "",
	} {
		got, err := ParseNamespaceLink(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q -> %q, %v", in, got, err)
		}
	}
}
