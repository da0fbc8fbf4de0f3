package procfs

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// FD is one entry of /proc/<pid>/fd: the descriptor number and what its
// link names. Files link to their path ("/var/log/syslog", with
// " (deleted)" appended once unlinked); other objects link to a
// "type:[inode]" or "anon_inode:name" pseudo path ("socket:[1234]",
// "pipe:[5678]", "anon_inode:[eventfd]", "net:[4026531840]").
type FD struct {
	Num  int64
	Link string
}

// MaxFDs bounds how many descriptors are read for one process. The kernel
// allows a process millions of descriptors (fs.nr_open); a cap keeps one
// such process from making a query unbounded.
const MaxFDs = 1 << 20

// FDs lists /proc/<pid>/fd in descriptor order. A descriptor closed between
// the listing and its readlink is skipped: the process is live and its table
// changes under us. Reading another user's descriptors needs
// CAP_SYS_PTRACE (root); the error is returned then.
func (fs FS) FDs(pid int) ([]FD, error) {
	dir := fs.PIDPath(pid, "fd")
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(MaxFDs)
	d.Close()
	if err != nil && len(names) == 0 {
		return nil, err
	}
	fds := make([]FD, 0, len(names))
	for _, n := range names {
		num, err := strconv.ParseInt(n, 10, 64)
		if err != nil || num < 0 {
			continue
		}
		link, err := os.Readlink(dir + "/" + n)
		if err != nil {
			continue
		}
		fds = append(fds, FD{Num: num, Link: link})
	}
	slices.SortFunc(fds, func(a, b FD) int {
		switch {
		case a.Num < b.Num:
			return -1
		case a.Num > b.Num:
			return 1
		}
		return 0
	})
	return fds, nil
}

// ParseInodeLink parses a "kind:[inode]" link, as /proc/<pid>/fd shows
// sockets and pipes and /proc/<pid>/ns shows namespaces. It reports false
// when the link is not of that kind or the inode is not a positive decimal.
func ParseInodeLink(link, kind string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, kind)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutPrefix(rest, ":[")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "]")
	if !ok || num == "" || num[0] == '+' {
		return 0, false
	}
	ino, err := strconv.ParseUint(num, 10, 64)
	if err != nil || ino == 0 {
		return 0, false
	}
	return ino, true
}

// SocketInode returns the socket inode of an fd link "socket:[inode]".
func SocketInode(link string) (uint64, bool) {
	return ParseInodeLink(link, "socket")
}

// Namespace returns the inode of /proc/<pid>/ns/<kind> ("net", "mnt",
// ...), which identifies the namespace: two processes share a namespace
// exactly when the inodes are equal.
func (fs FS) Namespace(pid int, kind string) (uint64, error) {
	link, err := os.Readlink(fs.PIDPath(pid, "ns", kind))
	if err != nil {
		return 0, err
	}
	ino, ok := ParseInodeLink(link, kind)
	if !ok {
		return 0, fmt.Errorf("%s: link %q is not %s:[inode]", fs.PIDPath(pid, "ns", kind), link, kind)
	}
	return ino, nil
}
