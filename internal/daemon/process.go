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
	"time"

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
// refuses a second one, unless force (osquery's --force) asks to stop it.
func lockPidfile(path string, force bool) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pidfile %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			b, _ := os.ReadFile(path)
			pid := strings.TrimSpace(string(b))
			if !force || !stopHolder(f, pid) {
				f.Close()
				return nil, fmt.Errorf("osqueryd (%s) %w: pidfile %s is locked", pid, ErrRunning, path)
			}
		}
		// The lock is ours, but a daemon removes its pidfile as it exits:
		// if the one just stopped did, ours must be a new file at path.
		var st, pst unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) != nil || unix.Stat(path, &pst) != nil || st.Ino != pst.Ino || st.Dev != pst.Dev {
			f.Close()
			if attempt < 3 {
				continue
			}
			return nil, fmt.Errorf("pidfile %s: replaced while being locked", path)
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
}

// stopHolder is --force: it stops the daemon whose pid the locked pidfile
// names, SIGTERM first (a clean shutdown removes its audit rules) and
// SIGKILL if it has not let go of the lock within forceGrace, and reports
// whether f's lock is ours now. Only a process that runs an osquery binary
// is signalled: a pid that is not a daemon is never killed.
func stopHolder(f *os.File, pidText string) bool {
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 1 || pid == os.Getpid() {
		return false
	}
	exe, err := os.Readlink("/proc/" + pidText + "/exe")
	if err != nil || !strings.Contains(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "osquery") {
		return false
	}
	locked := func(wait time.Duration) bool {
		for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
		}
	}
	if syscall.Kill(pid, syscall.SIGTERM) != nil {
		return false
	}
	if locked(forceGrace) {
		return true
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return locked(2 * time.Second)
}

// forceGrace is how long --force waits for the old daemon's clean exit.
const forceGrace = 10 * time.Second
