package procfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenInRoot opens path as a process whose root directory is root sees it:
// absolute symlinks and ".." are resolved inside root (openat2 with
// RESOLVE_IN_ROOT), so a container's /etc/os-release pointing at
// /usr/lib/os-release reads the container's file, not the host's. root is a
// directory or a /proc/<pid>/root link. Where openat2 is missing (kernels
// before 5.6) or filtered, the path is joined lexically under root.
func OpenInRoot(root, path string) (*os.File, error) {
	if root == "" || root == "/" {
		return os.Open(path)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dir)
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(dir, rel, &how)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// No openat2, or a seccomp filter (older container runtimes)
		// refuses it with EPERM.
		return os.Open(filepath.Join(root, rel))
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(root, rel), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}

// ReadFileInRoot reads at most max bytes of path under root (see
// OpenInRoot).
func ReadFileInRoot(root, path string, max int) ([]byte, error) {
	f, err := OpenInRoot(root, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if len(b) > max {
		return b[:max], fmt.Errorf("read %s: %w", f.Name(), ErrTooLarge)
	}
	return b, nil
}

// MountNamespace returns the inode number of pid's mount namespace, read
// from the /proc/<pid>/ns/mnt link ("mnt:[4026531841]"), as osquery's
// mount_namespace_id column shows it.
func (fs FS) MountNamespace(pid int) (string, error) {
	link, err := os.Readlink(fs.PIDPath(pid, "ns", "mnt"))
	if err != nil {
		return "", err
	}
	return ParseNamespaceLink(link)
}

// ParseNamespaceLink extracts the number of a namespace link such as
// "mnt:[4026531841]".
func ParseNamespaceLink(link string) (string, error) {
	_, rest, ok := strings.Cut(link, "[")
	id, _, closed := strings.Cut(rest, "]")
	if !ok || !closed || id == "" || strings.Trim(id, "0123456789") != "" {
		return "", fmt.Errorf("namespace link %q: no [id]", link)
	}
	return id, nil
}

// InInitialNetNS reports whether this process is in the initial network
// namespace, the only one that the kernel's audit multicast group and proc
// connector deliver to. It compares this process's namespace with that of
// kthreadd (pid 2), a kernel thread that always lives in the initial one;
// when pid 2 is not kthreadd (a pid namespace) or its namespace cannot be
// read, the answer is unknown and err says why.
func (fs FS) InInitialNetNS() (bool, error) {
	comm, err := ReadFile(fs.PIDPath(2, "comm"), 64)
	if err != nil {
		return false, fmt.Errorf("cannot tell the network namespace: %w", err)
	}
	if strings.TrimSpace(string(comm)) != "kthreadd" {
		return false, errors.New("cannot tell the network namespace: pid 2 is not kthreadd (a pid namespace?)")
	}
	var self, kernel unix.Stat_t
	if err := unix.Stat(fs.Path("self", "ns", "net"), &self); err != nil {
		return false, fmt.Errorf("cannot tell the network namespace: %w", err)
	}
	if err := unix.Stat(fs.PIDPath(2, "ns", "net"), &kernel); err != nil {
		return false, fmt.Errorf("cannot tell the network namespace: %w", err)
	}
	return self.Ino == kernel.Ino && self.Dev == kernel.Dev, nil
}
