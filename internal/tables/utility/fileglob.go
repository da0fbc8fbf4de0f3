package utility

import (
	"context"
	"errors"
	"fmt"
	"github.com/gosquery/gosquery/internal/likepath"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/table"
)

// This file holds what the file and hash tables share: the filesystem view a
// generation reads through (the host, a test fixture root, or a process's
// mount namespace for pid_with_namespace), the expansion of `LIKE` patterns
// into paths, and the choice of paths from the path/directory constraints.

const (
	// fileGlobMaxDepth bounds `%%` recursion below the directory that
	// matched, as osquery's kMaxRecursiveGlobs does.
	fileGlobMaxDepth = 64
	// fileGlobMaxResults bounds the paths one pattern expands to, and the
	// entries read from any one directory, so `/%%` cannot exhaust memory.
	fileGlobMaxResults = 1 << 20
)

// fileStat is the part of statx(2) the tables report.
type fileStat struct {
	mode                       uint32 // st_mode, type bits included
	ino, dev, rdev             uint64
	uid, gid                   uint32
	nlink                      uint64
	size, blksize              int64
	atime, mtime, ctime, btime int64 // seconds
	mtimeNsec, ctimeNsec       int64
}

func (s *fileStat) isDir() bool     { return s.mode&unix.S_IFMT == unix.S_IFDIR }
func (s *fileStat) isLink() bool    { return s.mode&unix.S_IFMT == unix.S_IFLNK }
func (s *fileStat) isRegular() bool { return s.mode&unix.S_IFMT == unix.S_IFREG }

// fileTypeName is osquery's name for the file type in st_mode.
func fileTypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFCHR:
		return "character"
	case unix.S_IFBLK:
		return "block"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "unknown"
}

// fileModeString renders the permission bits as osquery's lsperms does: four
// octal digits, the first holding setuid/setgid/sticky ("0644", "4755").
func fileModeString(mode uint32) string {
	return fmt.Sprintf("%04o", mode&07777)
}

func fileStatFromStatx(x *unix.Statx_t) fileStat {
	s := fileStat{
		mode:      uint32(x.Mode),
		ino:       x.Ino,
		dev:       unix.Mkdev(x.Dev_major, x.Dev_minor),
		rdev:      unix.Mkdev(x.Rdev_major, x.Rdev_minor),
		uid:       x.Uid,
		gid:       x.Gid,
		nlink:     uint64(x.Nlink),
		size:      int64(x.Size),
		blksize:   int64(x.Blksize),
		atime:     x.Atime.Sec,
		mtime:     x.Mtime.Sec,
		ctime:     x.Ctime.Sec,
		mtimeNsec: int64(x.Mtime.Nsec),
		ctimeNsec: int64(x.Ctime.Nsec),
	}
	// Not every filesystem records a birth time (tmpfs did not before 5.x,
	// NFS and overlayfs on some kernels do not); osquery's 0 stands for
	// "unknown" then.
	if x.Mask&unix.STATX_BTIME != 0 {
		s.btime = x.Btime.Sec
	}
	return s
}

func fileStatFromStat(st *unix.Stat_t) fileStat {
	return fileStat{
		mode:      st.Mode,
		ino:       st.Ino,
		dev:       st.Dev,
		rdev:      st.Rdev,
		uid:       st.Uid,
		gid:       st.Gid,
		nlink:     uint64(st.Nlink),
		size:      st.Size,
		blksize:   int64(st.Blksize),
		atime:     st.Atim.Sec,
		mtime:     st.Mtim.Sec,
		ctime:     st.Ctim.Sec,
		mtimeNsec: st.Mtim.Nsec,
		ctimeNsec: st.Ctim.Nsec,
	}
}

// fileView is the filesystem as one generation reads it. On the live host
// paths go straight to the syscalls. Under another root (a fixture in tests,
// /proc/<pid>/root for pid_with_namespace) every lookup goes through
// openat2(RESOLVE_IN_ROOT), so absolute symlinks and ".." resolve inside that
// root as they would for a process living there, not on the host.
type fileView struct {
	// root is the directory "/" maps to.
	root string
	// rootFD is an O_PATH descriptor of root, or -1 for the host.
	rootFD int
	// joinRoot is set when openat2 is unavailable (kernels before 5.6):
	// paths are then joined under root lexically, and symlinks inside may
	// escape it.
	joinRoot bool
	// pid and mntNS are reported in pid_with_namespace and
	// mount_namespace_id (0 and "" for the host).
	pid   int64
	mntNS string
	// cacheKey tells the hash cache which filesystem a path belongs to.
	cacheKey string
	log      *slog.Logger
}

// openFileView opens a view rooted at root; "/" and "" mean the host as is.
func openFileView(root string, log *slog.Logger) (*fileView, error) {
	v := &fileView{root: root, rootFD: -1, cacheKey: "root:" + root, log: log}
	if root == "" || root == "/" {
		v.root = "/"
		v.cacheKey = "root:/"
		return v, nil
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	v.rootFD = fd
	// Probe openat2 once: seccomp profiles and old kernels answer ENOSYS.
	probe, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		v.joinRoot = true
		log.Debug("openat2 unavailable, resolving paths lexically under root", "root", root, "err", err)
	} else {
		unix.Close(probe)
	}
	return v, nil
}

// openFileNamespaceView opens the view of process pid's mount namespace through
// /proc/<pid>/root, which is how osquery's container worker sees it after
// setns(2) (a Go process cannot setns its mount namespace: its threads share
// one filesystem context).
func openFileNamespaceView(env *table.Env, pid int64) (*fileView, error) {
	link, err := os.Readlink(env.Proc(strconv.FormatInt(pid, 10), "ns", "mnt"))
	if err != nil {
		return nil, err
	}
	id, ok := parseFileMountNamespace(link)
	if !ok {
		return nil, fmt.Errorf("cannot parse mount namespace link %q", link)
	}
	v, err := openFileView(env.Proc(strconv.FormatInt(pid, 10), "root"), env.Log)
	if err != nil {
		return nil, err
	}
	v.pid = pid
	v.mntNS = id
	v.cacheKey = "mnt:" + id
	return v, nil
}

// parseFileMountNamespace extracts the number from a /proc/<pid>/ns/mnt link
// ("mnt:[4026531840]"), which osquery reports as mount_namespace_id.
func parseFileMountNamespace(link string) (string, bool) {
	_, rest, ok := strings.Cut(link, "[")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "]")
	if !ok || id == "" {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return "", false
		}
	}
	return id, true
}

func closeFileViews(views []*fileView) {
	for _, v := range views {
		v.close()
	}
}

func (v *fileView) close() {
	if v.rootFD >= 0 {
		unix.Close(v.rootFD)
		v.rootFD = -1
	}
}

// inRoot reports whether lookups go through openat2 under rootFD.
func (v *fileView) inRoot() bool { return v.rootFD >= 0 && !v.joinRoot }

// hostPath is the path handed to plain syscalls.
func (v *fileView) hostPath(p string) string {
	if v.rootFD < 0 {
		return p
	}
	return strings.TrimSuffix(v.root, "/") + "/" + strings.TrimPrefix(p, "/")
}

// openat opens p under the view's root. RESOLVE_IN_ROOT may answer EAGAIN
// when a rename races the lookup; a few retries are enough.
func (v *fileView) openat(p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT}
	for range 3 {
		fd, err := unix.Openat2(v.rootFD, p, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

const fileStatxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME

// stat is stat(2) when follow is set, lstat(2) otherwise.
func (v *fileView) stat(p string, follow bool) (fileStat, error) {
	var x unix.Statx_t
	if v.inRoot() {
		flags := unix.O_PATH
		if !follow {
			flags |= unix.O_NOFOLLOW
		}
		fd, err := v.openat(p, flags)
		if err != nil {
			return fileStat{}, &os.PathError{Op: "stat", Path: p, Err: err}
		}
		defer unix.Close(fd)
		err = unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, fileStatxMask, &x)
		if err == nil {
			return fileStatFromStatx(&x), nil
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fileStat{}, &os.PathError{Op: "stat", Path: p, Err: err}
		}
		return fileStatFromStat(&st), nil
	}
	hp := v.hostPath(p)
	flags := unix.AT_STATX_SYNC_AS_STAT
	if !follow {
		flags |= unix.AT_SYMLINK_NOFOLLOW
	}
	err := unix.Statx(unix.AT_FDCWD, hp, flags, fileStatxMask, &x)
	if err == nil {
		return fileStatFromStatx(&x), nil
	}
	if err != unix.ENOSYS && err != unix.EPERM {
		return fileStat{}, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	// statx is refused by some seccomp filters; plain stat has no birth time.
	var st unix.Stat_t
	if follow {
		err = unix.Stat(hp, &st)
	} else {
		err = unix.Lstat(hp, &st)
	}
	if err != nil {
		return fileStat{}, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	return fileStatFromStat(&st), nil
}

// readlink returns a symlink's target text.
func (v *fileView) readlink(p string) (string, error) {
	if !v.inRoot() {
		return os.Readlink(v.hostPath(p))
	}
	fd, err := v.openat(p, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	defer unix.Close(fd)
	// Link targets are at most PATH_MAX bytes; one retry covers filesystems
	// that allow more.
	for size := unix.PathMax; size <= 16*unix.PathMax; size *= 16 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: p, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", &os.PathError{Op: "readlink", Path: p, Err: unix.ENAMETOOLONG}
}

// openDir opens a directory for listing. O_DIRECTORY makes a FIFO or device
// fail at once instead of blocking the open.
func (v *fileView) openDir(p string) (*os.File, error) {
	return v.open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK)
}

// openRead opens a file for reading without blocking on FIFOs and without
// taking a controlling terminal, and without touching atime when allowed.
func (v *fileView) openRead(p string) (*os.File, error) {
	f, err := v.open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_NOATIME)
	if errors.Is(err, unix.EPERM) {
		// O_NOATIME needs ownership or CAP_FOWNER.
		f, err = v.open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	}
	return f, err
}

func (v *fileView) open(p string, flags int) (*os.File, error) {
	var fd int
	var err error
	if v.inRoot() {
		fd, err = v.openat(p, flags)
	} else {
		for range 3 {
			fd, err = unix.Open(v.hostPath(p), flags|unix.O_CLOEXEC, 0)
			if err != unix.EINTR {
				break
			}
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	// The name is what os.ReadDir lstats entries of unknown type under.
	return os.NewFile(uintptr(fd), v.hostPath(p)), nil
}

// fileDirEntry is one directory entry with whether it leads to a directory
// (following symlinks, as glob(3) and boost's directory_iterator do).
type fileDirEntry struct {
	name  string
	isDir bool
}

// listDir reads the entries of directory p ("." and ".." excluded), sorted
// by name, at most fileGlobMaxResults of them. isDir is filled in only when
// needDir is set, since it costs a stat per symlink.
func (v *fileView) listDir(ctx context.Context, p string, needDir bool) ([]fileDirEntry, error) {
	d, err := v.openDir(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out []fileDirEntry
	for len(out) < fileGlobMaxResults {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		batch, err := d.ReadDir(512)
		for _, e := range batch {
			out = append(out, fileDirEntry{name: e.Name(), isDir: needDir && v.entryIsDir(p, e)})
		}
		if err == io.EOF || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			// A directory that fails half way (removed, I/O error) still
			// yields what was read.
			v.log.Debug("reading directory", "path", p, "err", err)
			break
		}
	}
	if len(out) >= fileGlobMaxResults {
		v.log.Warn("directory listing truncated", "path", p, "entries", len(out))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// entryIsDir uses the entry's d_type and stats only symlinks and entries of
// unknown type.
func (v *fileView) entryIsDir(dir string, e fs.DirEntry) bool {
	t := e.Type()
	if t.IsDir() {
		return true
	}
	// os.ReadDir resolves an unknown d_type with lstat, so the type is
	// known here.
	if t&fs.ModeSymlink == 0 {
		return false
	}
	st, err := v.stat(joinFilePath(dir, e.Name()), true)
	return err == nil && st.isDir()
}

// joinFilePath appends name to dir with one separator, as boost's
// path::operator/ does ("/etc/" + "passwd" is "/etc/passwd").
func joinFilePath(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// splitFilePath returns the directory and file name of p, ignoring trailing
// slashes: "/etc/passwd" gives ("/etc", "passwd"), "/etc/ssh/" gives
// ("/etc", "ssh"), "/" gives ("", "/") and a bare "name" gives ("", "name").
func splitFilePath(p string) (dir, name string) {
	trimmed := strings.TrimRight(p, "/")
	if trimmed == "" {
		if p == "" {
			return "", ""
		}
		return "", "/"
	}
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return "", trimmed
	}
	dir = strings.TrimRight(trimmed[:i], "/")
	if dir == "" {
		dir = "/"
	}
	return dir, trimmed[i+1:]
}

// absolute makes a relative path absolute the way osquery does for LIKE
// patterns: against the working directory on the host, against the root in
// another namespace (where setns(2) leaves the worker).
func (v *fileView) absolute(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	if v.rootFD < 0 {
		if wd, err := os.Getwd(); err == nil {
			return joinFilePath(wd, p)
		}
	}
	return "/" + p
}

// fileGlob is one LIKE pattern's expansion. It follows osquery's
// resolveFilePattern (glob(3) after replacing % with *, plus a manual walk
// for a trailing %%) with these rules:
//
//   - '%' matches any run of characters within one path component; it does
//     not match a leading '.', as glob's '*' does not.
//   - A pattern ending in "%%" matches what the pattern with a single '%'
//     matches, and everything below each directory matched, hidden entries
//     included, following symlinks to directories but never into a
//     directory twice, at most fileGlobMaxDepth levels down.
//   - Every other character is literal: '_' stays literal as it does in
//     osquery, and glob's own metacharacters (* ? [ { \) are not special,
//     so a file named "a[1]" can be found. SQLite re-checks each row with
//     the real LIKE, so this only ever matters for such names.
//   - A trailing '/' matches directories only, and the paths keep it, so
//     that the re-check by SQLite still matches.
//
// Paths are built from the pattern's own text and the names read, so every
// path emitted still matches the LIKE pattern it came from.
type fileGlob struct {
	ctx        context.Context
	view       *fileView
	emit       func(path string, isDir bool) bool
	recursive  bool
	maxResults int
	count      int
	stopped    bool
	visited    map[[2]uint64]bool
}

// expandFileLike calls emit for each path the LIKE pattern expands to, with
// whether it is a directory (following symlinks). emit returns false to stop.
func expandFileLike(ctx context.Context, v *fileView, pattern string, emit func(path string, isDir bool) bool) {
	g := &fileGlob{ctx: ctx, view: v, emit: emit, maxResults: fileGlobMaxResults}
	g.run(pattern)
}

func (g *fileGlob) run(pattern string) {
	if pattern == "" || strings.IndexByte(pattern, 0) >= 0 {
		return
	}
	pattern = g.view.absolute(pattern)
	if strings.HasSuffix(pattern, "%%") {
		g.recursive = true
		g.visited = map[[2]uint64]bool{}
		pattern = pattern[:len(pattern)-1]
	}
	comps := strings.Split(pattern, "/")
	// comps[0] is the empty text before the leading '/'.
	g.walk(comps[0], comps[1:])
}

func (g *fileGlob) done() bool {
	if !g.stopped && g.ctx.Err() != nil {
		g.stopped = true
	}
	return g.stopped
}

// walk matches the components in rest below the directory prefix.
func (g *fileGlob) walk(prefix string, rest []string) {
	if g.done() || len(rest) == 0 {
		return
	}
	comp, last := rest[0], len(rest) == 1
	if strings.IndexByte(comp, '%') < 0 {
		p := prefix + "/" + comp
		if !last {
			// Intermediate literals are checked by the next listing or
			// stat, as glob(3) does.
			g.walk(p, rest[1:])
			return
		}
		if comp == "" {
			// A trailing '/': only a directory matches.
			if st, err := g.view.stat(p, true); err == nil && st.isDir() {
				g.result(p, true)
			}
			return
		}
		if _, err := g.view.stat(p, false); err != nil {
			return
		}
		st, err := g.view.stat(p, true)
		g.result(p, err == nil && st.isDir())
		return
	}
	dir := prefix
	if dir == "" {
		dir = "/"
	}
	entries, err := g.view.listDir(g.ctx, dir, true)
	if err != nil {
		g.view.log.Debug("cannot list directory for pattern", "path", dir, "err", err)
	}
	if last && g.recursive {
		// This directory is listed already: a symlink below that leads
		// back to it is not walked again.
		g.markVisited(dir)
	}
	for _, e := range entries {
		if g.done() {
			return
		}
		if !likepath.MatchComponent(comp, e.name) {
			continue
		}
		p := prefix + "/" + e.name
		switch {
		case last:
			g.result(p, e.isDir)
		case e.isDir:
			g.walk(p, rest[1:])
		}
	}
}

// result emits one match, and under a trailing %% everything below it.
func (g *fileGlob) result(p string, isDir bool) {
	if !g.send(p, isDir) {
		return
	}
	if g.recursive && isDir {
		g.descend(p, 0)
	}
}

func (g *fileGlob) send(p string, isDir bool) bool {
	if g.done() {
		return false
	}
	if g.count >= g.maxResults {
		g.view.log.Warn("file pattern expansion stopped at the result limit", "limit", g.maxResults, "path", p)
		g.stopped = true
		return false
	}
	g.count++
	if !g.emit(p, isDir) {
		g.stopped = true
		return false
	}
	return true
}

// descend lists dir and everything below it. Directories are remembered by
// device and inode, so symlink loops and bind mounts are entered once.
func (g *fileGlob) descend(dir string, depth int) {
	if depth >= fileGlobMaxDepth || g.done() {
		return
	}
	if !g.markVisited(dir) {
		return
	}
	entries, err := g.view.listDir(g.ctx, dir, true)
	if err != nil {
		g.view.log.Debug("cannot list directory", "path", dir, "err", err)
	}
	for _, e := range entries {
		p := joinFilePath(dir, e.name)
		if !g.send(p, e.isDir) {
			return
		}
		if e.isDir {
			g.descend(p, depth+1)
		}
	}
}

// markVisited records directory dir by device and inode and reports
// whether it was new.
func (g *fileGlob) markVisited(dir string) bool {
	st, err := g.view.stat(dir, true)
	if err != nil || !st.isDir() {
		return false
	}
	id := [2]uint64{st.dev, st.ino}
	if g.visited[id] {
		return false
	}
	g.visited[id] = true
	return true
}

// fileTarget is one path a file or hash generation reports: the path text,
// and the directory and file name columns that go with it.
type fileTarget struct {
	path, dir, name string
}

// eachFileTarget walks the paths the path and directory constraints name.
// All constraints of one filter are ANDed, so the cheapest complete source
// is enough and SQLite applies the others:
//
//  1. path = / IN: each path exactly as written;
//  2. else directory = / IN: the entries of each directory;
//  3. else path LIKE: the union of the patterns' expansions;
//  4. else directory LIKE: the entries of each directory the patterns
//     expand to.
//
// The directory column of listed entries is the directory text as given (or
// as expanded), so `directory = '/etc/'` rows say "/etc/" as osquery's do.
func eachFileTarget(ctx context.Context, q *table.Query, v *fileView, fn func(fileTarget) bool) {
	if paths := q.Equals("path"); len(paths) > 0 {
		for _, p := range paths {
			if ctx.Err() != nil || p == "" {
				continue
			}
			dir, name := splitFilePath(p)
			if !fn(fileTarget{path: p, dir: dir, name: name}) {
				return
			}
		}
		return
	}
	if dirs := q.Equals("directory"); len(dirs) > 0 {
		for _, d := range dirs {
			if !eachFileDirTarget(ctx, v, d, fn) {
				return
			}
		}
		return
	}
	// Several patterns can reach the same path; remember what was sent.
	var seen map[string]bool
	if pats := q.Values("path", table.OpLike); len(pats) > 0 {
		if len(pats) > 1 {
			seen = map[string]bool{}
		}
		for _, pat := range pats {
			stop := false
			expandFileLike(ctx, v, pat, func(p string, _ bool) bool {
				if seen != nil {
					if seen[p] {
						return true
					}
					seen[p] = true
				}
				dir, name := splitFilePath(p)
				stop = !fn(fileTarget{path: p, dir: dir, name: name})
				return !stop
			})
			if stop || ctx.Err() != nil {
				return
			}
		}
		return
	}
	pats := q.Values("directory", table.OpLike)
	if len(pats) > 1 {
		seen = map[string]bool{}
	}
	for _, pat := range pats {
		var dirs []string
		expandFileLike(ctx, v, pat, func(p string, isDir bool) bool {
			if isDir && (seen == nil || !seen[p]) {
				if seen != nil {
					seen[p] = true
				}
				dirs = append(dirs, p)
			}
			return true
		})
		for _, d := range dirs {
			if !eachFileDirTarget(ctx, v, d, fn) {
				return
			}
		}
	}
}

// eachFileDirTarget sends the entries of directory d, hidden ones included, as
// boost's directory_iterator lists them for osquery. It returns false when
// fn asked to stop or the query was cancelled.
func eachFileDirTarget(ctx context.Context, v *fileView, d string, fn func(fileTarget) bool) bool {
	if d == "" {
		return true
	}
	entries, err := v.listDir(ctx, d, false)
	if err != nil {
		v.log.Debug("cannot list directory", "path", d, "err", err)
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return false
		}
		if !fn(fileTarget{path: joinFilePath(d, e.name), dir: d, name: e.name}) {
			return false
		}
	}
	return ctx.Err() == nil
}

// fileViews returns the views a generation reads: the host, or the mount
// namespace of each pid named by pid_with_namespace. Namespaces that cannot
// be entered are skipped, as osquery's worker skips them.
func fileViews(q *table.Query) []*fileView {
	log := q.Env.Log
	pids := q.EqualsInt("pid_with_namespace")
	if len(pids) == 0 {
		v, err := openFileView(q.Env.Path("/"), log)
		if err != nil {
			log.Debug("cannot open filesystem root", "root", q.Env.Root, "err", err)
			return nil
		}
		return []*fileView{v}
	}
	var views []*fileView
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		v, err := openFileNamespaceView(q.Env, pid)
		if err != nil {
			log.Debug("cannot enter mount namespace", "pid", pid, "err", err)
			continue
		}
		views = append(views, v)
	}
	return views
}
