package procfs

import (
	"fmt"
	"os"
	"os/exec"
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

// The fixture: self's namespace is, or is not, the same file as kthreadd's.
func TestInInitialNetNSFixture(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"2/ns", "self/ns"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2/comm", "kthreadd\n")
	write("2/ns/net", "")
	write("self/ns/net", "")
	if in, err := New(root).InInitialNetNS(); err != nil || in {
		t.Errorf("different namespace files: %v, %v", in, err)
	}
	os.Remove(filepath.Join(root, "self/ns/net"))
	if err := os.Link(filepath.Join(root, "2/ns/net"), filepath.Join(root, "self/ns/net")); err != nil {
		t.Fatal(err)
	}
	if in, err := New(root).InInitialNetNS(); err != nil || !in {
		t.Errorf("the same namespace file: %v, %v", in, err)
	}
	write("2/comm", "bash\n")
	if _, err := New(root).InInitialNetNS(); err == nil {
		t.Error("pid 2 is not kthreadd, yet no error")
	}
}

const netnsChildEnv = "GOSQUERY_PROCFS_NETNS_CHILD"

// On the live /proc the answer must change with the namespace: this test
// binary re-run in a new network namespace (root only) must say false.
func TestInInitialNetNSLive(t *testing.T) {
	in, err := New("/proc").InInitialNetNS()
	if os.Getenv(netnsChildEnv) != "" {
		fmt.Printf("answer=%v err=%v\n", in, err)
		return
	}
	if err != nil {
		t.Skipf("needs kthreadd's namespace in /proc: %v", err)
	}
	t.Logf("this test runs in the initial network namespace: %v", in)
	if os.Geteuid() != 0 {
		t.Skip("needs root: to start a child in a new network namespace")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestInInitialNetNSLive$")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "answer=false err=<nil>") {
		t.Errorf("in a new network namespace: %v: %s", err, out)
	}
}
