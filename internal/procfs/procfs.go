// Package procfs reads /proc (and the /sys files tables need) from a root
// given by the caller, so tests point it at fixture trees. Reading is kept
// apart from parsing: every ParseX function takes bytes and is fuzzed.
package procfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// FS is a procfs mount point.
type FS struct {
	Root string
}

// New returns an FS rooted at root ("/proc" on a live host).
func New(root string) FS { return FS{Root: root} }

// Path joins elements under the root.
func (fs FS) Path(elem ...string) string {
	return filepath.Join(append([]string{fs.Root}, elem...)...)
}

// PIDPath joins elements under /proc/<pid>.
func (fs FS) PIDPath(pid int, elem ...string) string {
	return filepath.Join(append([]string{fs.Root, strconv.Itoa(pid)}, elem...)...)
}

// DefaultMaxRead bounds a single /proc file read. Proc files report size 0,
// so the reader cannot trust stat; a cap keeps a hostile or huge file (a
// 2 MB cmdline, a giant environ) from exhausting memory.
const DefaultMaxRead = 4 << 20

// ErrTooLarge is returned when a file exceeds the read cap.
var ErrTooLarge = errors.New("file larger than read limit")

// ReadFile reads at most max bytes of path. It does not trust the size the
// filesystem reports, because procfs and sysfs report 0 or 4096 for files
// of any length. It uses raw open/read/close rather than os.Open: an
// os.File costs several extra syscalls (poller registration, fcntl), and a
// full process listing opens hundreds of small files, where on a VM each
// syscall is tens of microseconds.
func ReadFile(path string, max int) ([]byte, error) {
	fd, err := openRetry(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				break
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		free := cap(buf) - len(buf)
		buf = buf[:len(buf)+n]
		// procfs and sysfs hand over everything that fits in one read:
		// seq_file fills the whole user buffer, cmdline and environ loop
		// until the request is met. A short read is therefore the end, and
		// skipping the extra read that would return 0 saves a syscall per
		// file on listings that open hundreds of them.
		if n == 0 || n < free {
			break
		}
	}
	*bp = buf[:0]
	if len(buf) > max {
		return slices.Clone(buf[:max]), fmt.Errorf("read %s: %w", path, ErrTooLarge)
	}
	return slices.Clone(buf), nil
}

// readBufs recycles read buffers; ReadFile returns an exact-size copy.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func openRetry(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// PIDs lists the numeric entries of the root: the running processes.
func (fs FS) PIDs() ([]int, error) {
	d, err := os.Open(fs.Root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", fs.Root, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ClockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat. The
// kernel fixes it at 100 on every architecture Linux supports today
// (sysconf(_SC_CLK_TCK) returns the same constant), so it is not probed.
const ClockTicks = 100

// PageSize is the memory page size, for fields /proc reports in pages.
var PageSize = int64(os.Getpagesize())
