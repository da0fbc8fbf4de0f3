package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// daemonizedEnv marks the re-executed child of --daemonize.
const daemonizedEnv = "GOSQUERY_DAEMONIZED"

// daemonize runs the daemon again detached from the terminal (new
// session, stdio on /dev/null, cwd /), as daemon(0,0) does for osquery; Go
// cannot fork, so the program re-executes itself.
func daemonize(stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "daemonize: %v\n", err)
		return exitFailure
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "daemonize: %v\n", err)
		return exitFailure
	}
	defer null.Close()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonizedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "daemonize: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// ErrRunning is returned when another live daemon holds the pidfile.
var ErrRunning = errors.New("is already running")

// lockPidfile takes the pidfile: an exclusive lock on the file plus our
// pid in it. The lock, not the pid, decides: a file left by a crashed
// daemon is unlocked and is simply taken over, and a live daemon's lock
// refuses a second one.
func lockPidfile(path string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		return nil, fmt.Errorf("osqueryd (%s) %w: pidfile %s is locked", pid, ErrRunning, path)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		os.Remove(path)
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
