package system

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/tabletest"
)

// startSleeper runs bin (a copy of sleep) with a marker argument and waits
// until the kernel shows it running bin's image, not the test's.
func startSleeper(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(b), "3600") {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d did not exec", pid)
	return 0
}

func copySleep(t *testing.T, dst string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("needs sleep: %v", err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func processRowOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select pid, name, path, on_disk, parent, cmdline from processes where pid = "+strconv.Itoa(pid))
	if len(rows) != 1 {
		t.Fatalf("pid %d: rows %v", pid, rows)
	}
	return rows[0]
}

// The three answers of on_disk on a live host: the binary is there (1), it
// was deleted while the process runs (0, with the path the kernel had), and
// the link cannot be read (-1, empty path; pid 1 in some sandboxes).
func TestProcessesPathAndOnDisk(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gosq-sleep")
	copySleep(t, bin)
	pid := startSleeper(t, exec.Command(bin, "3600"))
	r := processRowOf(t, pid)
	if r["path"] != bin || r["on_disk"] != "1" || r["name"] != "gosq-sleep" ||
		r["parent"] != strconv.Itoa(os.Getpid()) || r["cmdline"] != bin+" 3600" {
		t.Errorf("running binary: %v", r)
	}
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if r := processRowOf(t, pid); r["path"] != bin || r["on_disk"] != "0" {
		t.Errorf("deleted binary: %v", r)
	}
	// A new file at the same path is not what the process runs.
	copySleep(t, bin)
	if r := processRowOf(t, pid); r["path"] != bin || r["on_disk"] != "0" {
		t.Errorf("replaced binary: %v", r)
	}

	// pid 1's exe link is unreadable even for root in some sandboxes;
	// wherever it is, the row must say so rather than guess.
	if _, err := os.Readlink("/proc/1/exe"); err != nil {
		if r := processRowOf(t, 1); r["path"] != "" || r["on_disk"] != "-1" {
			t.Errorf("pid 1 with an unreadable exe (%v): %v", err, r)
		}
	} else {
		t.Logf("pid 1's exe is readable here; the unreadable case is checked where it is not")
	}
}

// A process that runs a memfd (fileless malware does) shows the kernel's
// name for it, /memfd:<name>, which is not on disk.
func TestProcessesMemfdExecutable(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("needs sleep: %v", err)
	}
	fd, err := unix.MemfdCreate("gosq-fileless", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skipf("needs memfd_create: %v", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd")
	defer mem.Close()
	src, err := os.Open(sleep)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(mem, src)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The child gets the memfd as fd 3 and the kernel executes it through
	// /proc/self/fd/3.
	cmd := exec.Command("/proc/self/fd/3", "3600")
	cmd.ExtraFiles = []*os.File{mem}
	pid := startSleeper(t, cmd)
	r := processRowOf(t, pid)
	if r["path"] != "/memfd:gosq-fileless" || r["on_disk"] != "0" {
		t.Errorf("memfd executable: %v", r)
	}
}
