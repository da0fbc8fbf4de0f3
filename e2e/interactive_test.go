package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/testenv"
)

// openPTY returns a pseudo-terminal pair, so the shell sees a real
// terminal and runs its interactive loop.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	testenv.PTY(t)
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A terminal of zero width disables completion; give it a real size.
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// terminal collects what the shell writes to the pty.
type terminal struct {
	master *os.File
	mu     sync.Mutex
	buf    bytes.Buffer
	done   chan struct{}
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.buf.String()
}

func (term *terminal) read() {
	defer close(term.done)
	b := make([]byte, 4096)
	for {
		n, err := term.master.Read(b)
		term.mu.Lock()
		term.buf.Write(b[:n])
		term.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// waitFor polls the output until it contains s.
func (term *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(term.output(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %q; output so far:\n%s", s, term.output())
}

func TestInteractiveShell(t *testing.T) {
	home := t.TempDir()
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(filepath.Join(binDir, "osqueryi"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = []string{"HOME=" + home, "TERM=dumb", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	term := &terminal{master: master, done: make(chan struct{})}
	go term.read()
	defer cmd.Process.Kill()

	term.waitFor(t, "osquery> ")
	// A statement over two lines shows the continuation prompt.
	master.WriteString("select 40 + 2\r")
	term.waitFor(t, "    ...> ")
	master.WriteString("as answer;\r")
	term.waitFor(t, "| 42     |")
	// Tab completes a table name.
	master.WriteString("select count(*) > 0 as ok from osquery_fl\t")
	term.waitFor(t, "osquery_flags")
	master.WriteString(";\r")
	term.waitFor(t, "| 1  |")
	master.WriteString(".quit\r")
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, term.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf(".quit did not exit:\n%s", term.output())
	}
	hist, err := os.ReadFile(filepath.Join(home, ".osquery", ".history"))
	if err != nil || !strings.Contains(string(hist), "as answer;") {
		t.Fatalf("history file: %v %q", err, hist)
	}
}
