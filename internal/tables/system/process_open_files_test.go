package system

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestOpenFileIsFile(t *testing.T) {
	for link, want := range map[string]bool{
		"/var/log/syslog":           true,
		"/tmp/x (deleted)":          true,
		"/dev/null":                 true,
		"/memfd:sealed (deleted)":   true,
		"net:[4026531840]":          true,
		"/tmp/pipe:[1] looks alike": true, // osquery drops this one; the kernel only prefixes
		"socket:[17506]":            false,
		"pipe:[5678]":               false,
		"anon_inode:[eventfd]":      false,
		"anon_inode:inotify":        false,
	} {
		if got := openFileIsFile(link); got != want {
			t.Errorf("openFileIsFile(%q) = %v, want %v", link, got, want)
		}
	}
}

// TestProcessOpenFilesLive opens a file, a pipe and a socket and checks
// that only the file is listed, with this process's pid and descriptor.
func TestProcessOpenFilesLive(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "open files (test) ")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	pid := strconv.Itoa(os.Getpid())
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from process_open_files where pid = "+pid)
	byFD := map[string]string{}
	for _, row := range rows {
		if row["pid"] != pid {
			t.Errorf("row of pid %s for pid = %s", row["pid"], pid)
		}
		byFD[row["fd"]] = row["path"]
	}
	if got := byFD[strconv.Itoa(int(f.Fd()))]; got != f.Name() {
		t.Errorf("fd %d path %q, want %q", f.Fd(), got, f.Name())
	}
	for _, p := range []*os.File{r, w} {
		if path, ok := byFD[strconv.Itoa(int(p.Fd()))]; ok {
			t.Errorf("pipe fd %d listed as %q", p.Fd(), path)
		}
	}
	for fd, path := range byFD {
		if !openFileIsFile(path) {
			t.Errorf("fd %s: %q listed", fd, path)
		}
	}

	// The whole table includes this process too.
	all := tabletest.Query(t, tabletest.HostEnv(t), "select pid, fd from process_open_files where path = '"+f.Name()+"'")
	if len(all) != 1 || all[0]["pid"] != pid {
		t.Errorf("by path: %v", all)
	}
	// A deleted file keeps its descriptor, with the kernel's suffix.
	if err := os.Remove(f.Name()); err != nil {
		t.Fatal(err)
	}
	del := tabletest.Query(t, tabletest.HostEnv(t), "select path from process_open_files where pid = "+pid+" and fd = "+strconv.Itoa(int(f.Fd())))
	if len(del) != 1 || del[0]["path"] != f.Name()+" (deleted)" {
		t.Errorf("deleted file: %v", del)
	}
}

func TestProcessOpenFilesFixture(t *testing.T) {
	root := t.TempDir()
	link := func(pid, fd, target string) {
		dir := filepath.Join(root, pid, "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, fd)); err != nil {
			t.Fatal(err)
		}
	}
	link("10", "0", "/dev/pts/0")
	link("10", "3", "socket:[1]")
	link("10", "10", "/var/log/a b")
	link("10", "notanumber", "/x")
	link("20", "1", "pipe:[2]")
	link("20", "2", "anon_inode:[eventfd]")
	link("30", "7", "/etc/passwd")
	if err := os.MkdirAll(filepath.Join(root, "40"), 0o755); err != nil { // no fd dir
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = root
	rows := tabletest.Query(t, env, "select * from process_open_files")
	var got []string
	for _, r := range rows {
		got = append(got, r["pid"]+"/"+r["fd"]+"/"+r["path"])
	}
	want := map[string]bool{"10/0//dev/pts/0": true, "10/10//var/log/a b": true, "30/7//etc/passwd": true}
	if len(got) != len(want) {
		t.Errorf("rows %q", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected row %q", g)
		}
	}
	// pid = constraints read only the named processes; a missing or
	// negative pid gives nothing.
	rows = tabletest.Query(t, env, "select fd from process_open_files where pid in (30, 99, -1)")
	if len(rows) != 1 || rows[0]["fd"] != "7" {
		t.Errorf("pid in (30, 99, -1): %v", rows)
	}
}
