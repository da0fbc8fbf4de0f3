package system

// Account files shared by users, groups, user_groups, authorized_keys,
// shell_history and crontab: /etc/passwd and /etc/group parsing, the
// pid_with_namespace roots, and reading files that users control without
// letting them block or exhaust the agent.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

// passwdEntry is one account, from /etc/passwd or an NSS-equivalent source.
type passwdEntry struct {
	Name   string
	Passwd string
	UID    uint32
	GID    uint32
	Gecos  string
	Dir    string
	Shell  string
}

// groupEntry is one group, from /etc/group or an NSS-equivalent source.
type groupEntry struct {
	Name    string
	Passwd  string
	GID     uint32
	Members []string
}

// acctMaxFile caps the account databases. A passwd file of 64 MiB holds
// about a million accounts; anything larger is not a passwd file.
const acctMaxFile = 64 << 20

// parsePasswdLine parses one passwd(5) line the way glibc's files backend
// does: the name, password, gecos and home fields end at the next ':', the
// shell is the rest of the line, missing trailing fields are empty, and
// the uid and gid must be decimal numbers or the line is not an entry.
// NIS compat markers (+name, -name) are not accounts and are skipped.
func parsePasswdLine(line []byte) (passwdEntry, bool) {
	line = bytes.TrimLeft(line, " \t\v\f\r")
	if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
		return passwdEntry{}, false
	}
	var e passwdEntry
	var rest []byte
	var name, pw []byte
	name, rest = acctField(line)
	pw, rest = acctField(rest)
	uid, rest, ok := acctIDField(rest)
	if !ok {
		return e, false
	}
	gid, rest, ok := acctIDField(rest)
	if !ok {
		return e, false
	}
	gecos, rest := acctField(rest)
	dir, rest := acctField(rest)
	e.Name, e.Passwd = string(name), string(pw)
	e.UID, e.GID = uid, gid
	e.Gecos, e.Dir, e.Shell = string(gecos), string(dir), string(rest)
	if e.Name == "" {
		return e, false
	}
	return e, true
}

// parsePasswd parses a whole passwd file, skipping lines that are not
// entries.
func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	acctLines(b, func(line []byte) {
		if e, ok := parsePasswdLine(line); ok {
			out = append(out, e)
		}
	})
	return out
}

// parseGroupLine parses one group(5) line: name:password:gid:member,...
// As in glibc's list parser, leading blanks of a member are skipped and
// empty members dropped; trailing blanks stay (glibc keeps "bob " and
// getgrouplist then does not match bob).
func parseGroupLine(line []byte) (groupEntry, bool) {
	line = bytes.TrimLeft(line, " \t\v\f\r")
	if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
		return groupEntry{}, false
	}
	var g groupEntry
	name, rest := acctField(line)
	pw, rest := acctField(rest)
	gid, rest, ok := acctIDField(rest)
	if !ok || len(name) == 0 {
		return g, false
	}
	g.Name, g.Passwd, g.GID = string(name), string(pw), gid
	for m := range bytes.SplitSeq(rest, []byte{','}) {
		if m = bytes.TrimLeft(m, " \t\v\f\r"); len(m) > 0 {
			g.Members = append(g.Members, string(m))
		}
	}
	return g, true
}

// parseGroup parses a whole group file.
func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	acctLines(b, func(line []byte) {
		if g, ok := parseGroupLine(line); ok {
			out = append(out, g)
		}
	})
	return out
}

// acctLines calls fn for each line of b without its newline.
func acctLines(b []byte, fn func([]byte)) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		fn(line)
	}
}

// acctField splits off the text up to the next ':'.
func acctField(b []byte) (field, rest []byte) {
	if i := bytes.IndexByte(b, ':'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// acctIDField parses a uid or gid field: decimal, at most 2^32-1. An empty
// or non-numeric id makes the whole line invalid, as in glibc.
func acctIDField(b []byte) (uint32, []byte, bool) {
	f, rest := acctField(b)
	if len(f) == 0 {
		return 0, rest, false
	}
	n, err := strconv.ParseUint(string(f), 10, 32)
	if err != nil {
		return 0, rest, false
	}
	return uint32(n), rest, true
}

// acctRoot is the filesystem an account table reads: the host's (under
// Env.Root) or, with pid_with_namespace, the mount namespace of a process
// seen through /proc/<pid>/root. osquery forks a worker into the namespace
// with setns(2); reading through the proc root, with links resolved inside
// it (see open), gives the same files without cgo or a child process.
type acctRoot struct {
	dir string
	// pid is the pid_with_namespace value rows carry: 0 for the host.
	pid int64
}

// path maps an absolute path inside the root lexically (for sockets and
// logs; files are opened with open, which resolves links inside the root).
func (r acctRoot) path(p string) string {
	if r.dir == "" || r.dir == "/" {
		return p
	}
	return filepath.Join(r.dir, p)
}

// acctRoots returns the roots a query reads: one per pid in
// `pid_with_namespace = ?` / IN (...), or the host's. pid 0 names the host,
// which is what rows outside a namespace report. Pids that do not exist are
// skipped, so a query naming only dead pids returns nothing.
func acctRoots(q *table.Query) []acctRoot {
	pids := q.EqualsInt("pid_with_namespace")
	if len(pids) == 0 {
		return []acctRoot{{dir: q.Env.Root}}
	}
	var roots []acctRoot
	for _, pid := range pids {
		switch {
		case pid == 0:
			roots = append(roots, acctRoot{dir: q.Env.Root})
		case pid > 0:
			dir := q.Env.Proc(strconv.FormatInt(pid, 10), "root")
			if _, err := os.Stat(dir); err != nil {
				q.Env.Log.Debug("pid_with_namespace: cannot enter the process's root", "pid", pid, "err", err)
				continue
			}
			roots = append(roots, acctRoot{dir: dir, pid: pid})
		}
	}
	return roots
}

// open opens a file that a user may control (a history file, a crontab,
// authorized_keys) for reading, as the root's processes see it. Absolute
// symlinks and ".." resolve inside the root (openat2 RESOLVE_IN_ROOT), so
// a container's files are its own; where openat2 is missing or filtered the
// path is joined lexically.
//
// Only regular files are opened for reading, and the type is checked
// before that open, on an O_PATH descriptor: a user can point
// ~/.bash_history at a FIFO (a plain open blocks forever), /dev/zero (a
// read never ends) or a device whose open has side effects (opening
// /dev/watchdog arms it). The regular file is then reopened through
// /proc/self/fd, which names that same inode, so a swap in between cannot
// substitute another file.
func (r acctRoot) open(p string) (*os.File, error) {
	pf, err := r.openAny(p, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	st, err := pf.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	// /proc/self is this process's own proc, not the host's ProcRoot.
	f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(pf.Fd())), flags, 0)
	if err != nil {
		// No /proc: open the path again; O_NONBLOCK still keeps a FIFO
		// swapped in meanwhile from blocking, and the check below stays.
		if f, err = r.openAny(p, flags); err != nil {
			return nil, err
		}
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return f, nil
}

// readDir lists a directory inside the root, resolved like open.
func (r acctRoot) readDir(p string) ([]os.DirEntry, error) {
	f, err := r.openAny(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

func (r acctRoot) openAny(p string, flags int) (*os.File, error) {
	if r.dir == "" || r.dir == "/" {
		return os.OpenFile(p, flags, 0)
	}
	dir, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: r.dir, Err: err}
	}
	defer unix.Close(dir)
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(dir, rel, &how)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// No openat2 (kernels before 5.6), or a seccomp filter refuses it.
		return os.OpenFile(r.path(p), flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), r.path(p)), nil
}

// readFile reads at most max bytes of a regular file inside the root. When
// the file is larger, the part read is returned with procfs.ErrTooLarge,
// cut back to its last complete line so that no half entry is parsed.
func (r acctRoot) readFile(p string, max int) ([]byte, error) {
	f, err := r.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if n > int64(max) {
		b := buf.Bytes()[:max]
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = nil
		}
		return b, fmt.Errorf("read %s: %w", p, procfs.ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// acctMaxLine bounds one line of a user-controlled text file. Longer lines
// are cut (the rest is discarded) rather than read into memory whole.
const acctMaxLine = 1 << 20

// acctEachLine streams the lines of r to fn without their '\n'. Lines
// longer than maxLine are truncated to maxLine bytes and the rest of them
// is skipped. It stops early when ctx is cancelled. The slice passed to fn
// is only valid during the call.
func acctEachLine(ctx context.Context, r io.Reader, maxLine int, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	inLong := false
	for ctx.Err() == nil {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: keep up to maxLine of it.
			long = acctAppendCapped(long, chunk, maxLine)
			inLong = true
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		newline := err == nil
		if newline {
			chunk = chunk[:len(chunk)-1]
		}
		line := chunk
		if inLong {
			long = acctAppendCapped(long, chunk, maxLine)
			line = long
		} else if len(line) > maxLine {
			line = line[:maxLine]
		}
		if newline || len(line) > 0 || inLong {
			fn(line)
		}
		long, inLong = long[:0], false
		if !newline {
			return nil
		}
	}
	return nil
}

// acctAppendCapped appends src to dst without growing dst past limit.
func acctAppendCapped(dst, src []byte, limit int) []byte {
	if room := limit - len(dst); room < len(src) {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

// acctUserDataUsers returns the accounts a user_data table (shell_history,
// authorized_keys) reads, as osquery's usersFromContext does: for each uid
// in `uid = ?` / `uid IN (...)`, every passwd entry with that uid, or when
// passwd has none, the first account with it in the NSS-equivalent
// enumeration (osquery retries the users table with include_remote = 1);
// without a uid constraint, only the account gosquery runs as, which
// osquery documents as the user_data behaviour (join with users for all).
func acctUserDataUsers(ctx context.Context, q *table.Query, root acctRoot) []passwdEntry {
	uids := q.EqualsInt("uid")
	constrained := len(uids) > 0
	if !constrained {
		uids = []int64{int64(os.Getuid())}
	}
	local := acctPasswdFile(q.Env.Log, root, nssPasswdFile)
	var remote []passwdEntry
	remoteLoaded := false
	var out []passwdEntry
	for _, uid := range uids {
		found := false
		for _, e := range local {
			if int64(e.UID) == uid {
				out = append(out, e)
				found = true
			}
		}
		if found || !constrained {
			continue
		}
		if !remoteLoaded {
			remote, remoteLoaded = nssPasswd(ctx, q.Env.Log, root), true
		}
		for _, e := range remote {
			if int64(e.UID) == uid {
				out = append(out, e)
				break
			}
		}
	}
	return out
}
