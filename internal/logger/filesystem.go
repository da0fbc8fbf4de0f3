package logger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/zstdframe"
)

// File names in --logger_path (plugins/logger/filesystem_logger.cpp).
const (
	ResultsFile   = "osqueryd.results.log"
	SnapshotsFile = "osqueryd.snapshots.log"
)

// Filesystem is osquery's filesystem plugin: results and snapshots appended
// to osqueryd.results.log and osqueryd.snapshots.log in --logger_path, one
// JSON line each, rotated with --logger_rotate, and statuses in glog-style
// osqueryd.INFO/WARNING/ERROR files.
type Filesystem struct {
	results   *logFile
	snapshots *logFile
	status    *statusFiles
}

// NewFilesystem creates cfg.Path if needed and the results file (empty), as
// osquery's setUp does, so an unwritable directory fails at start.
func NewFilesystem(cfg Config) (*Filesystem, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Path, 0o755); err != nil {
		return nil, fmt.Errorf("Could not create logger_path directory: %w", err)
	}
	newFile := func(name string) *logFile {
		return &logFile{
			path:       filepath.Join(cfg.Path, name),
			mode:       cfg.Mode,
			rotate:     cfg.Rotate,
			rotateSize: cfg.RotateSize,
			maxFiles:   cfg.RotateMaxFiles,
		}
	}
	f := &Filesystem{
		results:   newFile(ResultsFile),
		snapshots: newFile(SnapshotsFile),
		status: &statusFiles{
			dir:     cfg.Path,
			prog:    cfg.ProgramName,
			host:    cfg.Hostname,
			pid:     cfg.Pid,
			now:     cfg.Now,
			maxSize: cfg.StatusMaxSize,
			start:   cfg.Now(),
		},
	}
	if err := f.results.write(nil, true); err != nil {
		return nil, err
	}
	return f, nil
}

// Name implements Plugin.
func (f *Filesystem) Name() string { return "filesystem" }

// LogResult implements Plugin: line + "\n" to osqueryd.results.log.
func (f *Filesystem) LogResult(_ context.Context, line []byte) error {
	return f.results.write(line, false)
}

// LogSnapshot implements Plugin: line + "\n" to osqueryd.snapshots.log.
func (f *Filesystem) LogSnapshot(_ context.Context, line []byte) error {
	return f.snapshots.write(line, false)
}

// LogStatus implements Plugin: glog lines into the status files. osquery
// falls back to stderr when the directory is not writable; here the error
// is returned and the caller's stderr handler already has the statuses.
func (f *Filesystem) LogStatus(_ context.Context, statuses []logging.Status) error {
	return f.status.log(statuses)
}

// Close implements Plugin.
func (f *Filesystem) Close() error {
	return errors.Join(f.results.close(), f.snapshots.close(), f.status.close())
}

// logFile is one appended, optionally rotated, log file.
type logFile struct {
	mu         sync.Mutex
	path       string
	mode       os.FileMode
	rotate     bool
	rotateSize uint64
	maxFiles   uint64

	f      *os.File
	fi     os.FileInfo // the open file, to notice it being moved away
	buf    []byte
	closed bool
}

// write appends line and a newline with one write call (or, for empty, only
// makes sure the file exists, as setUp does). Like osquery it rotates first
// when the file has reached the rotation size, and sets the mode on every open, even of
// an existing file. osquery reopens the path for every line, so a file
// moved away by logrotate is recreated; the open descriptor is kept here
// and replaced when the path no longer names it.
func (l *logFile) write(line []byte, empty bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	st, err := os.Stat(l.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("Could not create file: %w", err)
	}
	if l.rotate && !empty && st != nil && uint64(st.Size()) >= l.rotateSize {
		if err := l.rotateFiles(); err != nil {
			return fmt.Errorf("Could not rotate %s: %w", l.path, err)
		}
		st = nil
	}
	if l.f != nil && (st == nil || !os.SameFile(st, l.fi)) {
		l.f.Close()
		l.f = nil
	}
	if l.f == nil {
		if err := l.open(); err != nil {
			return err
		}
		st = l.fi
	}
	if empty {
		return nil
	}
	l.buf = append(append(l.buf[:0], line...), '\n')
	n, err := l.f.Write(l.buf)
	if cap(l.buf) > 1<<20 {
		l.buf = nil // do not pin a huge line's buffer
	}
	if err != nil {
		// A line is whole or absent: cut a partial write back off.
		if n > 0 {
			l.f.Truncate(st.Size())
		}
		return fmt.Errorf("Failed to write contents to file: %s: %w", l.path, err)
	}
	return nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, l.mode)
	if err != nil {
		return fmt.Errorf("Could not create file: %w", err)
	}
	// The file may have existed with other permissions; restrict them,
	// and bypass the umask, as osquery's writeTextFile does.
	if err := f.Chmod(l.mode); err != nil {
		f.Close()
		return fmt.Errorf("Failed to change permissions for file: %s: %w", l.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("Could not create file: %w", err)
	}
	l.f, l.fi = f, fi
	return nil
}

func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// rotatedName is X.1, X.2.zst, X.3.zst...: osquery keeps one uncompressed
// generation.
func (l *logFile) rotatedName(n int) string {
	name := l.path + "." + strconv.Itoa(n)
	if n > 1 {
		name += ".zst"
	}
	return name
}

// maxRotateScan bounds the scan for existing generations.
const maxRotateScan = 1 << 16

// rotateFiles is osquery's LogRotate::rotate: find the run of existing
// generations X.1, X.2.zst, ..., shift each one up (compressing X.1 into
// X.2.zst), delete those past maxFiles, then move X to X.1.
func (l *logFile) rotateFiles() error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	moves := []string{l.rotatedName(1)}
	for len(moves) < maxRotateScan && exists(moves[len(moves)-1]) {
		moves = append(moves, l.rotatedName(len(moves)+1))
	}
	if len(moves) > 1 {
		for i := len(moves) - 1; i > 0; i-- {
			var err error
			if i == 1 {
				err = l.compress(moves[0], moves[1])
			} else {
				err = os.Rename(moves[i-1], moves[i])
			}
			if err != nil {
				return err
			}
		}
		for i := len(moves) - 1; i >= int(l.maxFiles) && i > 0; i-- {
			if err := os.Remove(moves[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return os.Rename(l.path, moves[0])
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// compress writes src as a zstd file at dst, through a temporary file so a
// failure leaves no truncated generation. src stays; the next move replaces
// it.
func (l *logFile) compress(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, l.mode)
	if err != nil {
		return err
	}
	err = out.Chmod(l.mode)
	if err == nil {
		err = zstdframe.WriteStored(out, in)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// statusFiles writes glog-style status logs: <prog>.<LEVEL>.<time>.<pid>
// for INFO, WARNING and ERROR, each holding its level and above, with a
// <prog>.<LEVEL> symlink to the current file, a new file once one reaches
// maxSize. Times are UTC, like logging.FormatGlog's lines (glog itself uses
// local time, which is UTC on most servers).
type statusFiles struct {
	mu      sync.Mutex
	dir     string
	prog    string
	host    string
	pid     int
	now     func() time.Time
	maxSize int64
	start   time.Time

	files  [3]statusFile
	bufs   [3][]byte
	closed bool
}

type statusFile struct {
	f    *os.File
	name string
	size int64
}

var levelNames = [3]string{"INFO", "WARNING", "ERROR"}

// glogFileMode is glog's --logfile_mode default (the umask applies).
const glogFileMode = 0o664

func (s *statusFiles) log(statuses []logging.Status) error {
	if len(statuses) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for i := range s.bufs {
		s.bufs[i] = s.bufs[i][:0]
	}
	for _, st := range statuses {
		line := logging.FormatGlog(st, s.pid)
		if len(line) == 0 || line[len(line)-1] != '\n' {
			line += "\n"
		}
		top := min(max(int(st.Severity), 0), len(levelNames)-1)
		for lvl := 0; lvl <= top; lvl++ {
			s.bufs[lvl] = append(s.bufs[lvl], line...)
		}
	}
	var errs []error
	for lvl := range s.bufs {
		if len(s.bufs[lvl]) > 0 {
			errs = append(errs, s.write(lvl, s.bufs[lvl]))
		}
		if cap(s.bufs[lvl]) > 1<<20 {
			s.bufs[lvl] = nil
		}
	}
	return errors.Join(errs...)
}

func (s *statusFiles) write(lvl int, data []byte) error {
	sf := &s.files[lvl]
	if sf.f == nil || sf.size >= s.maxSize {
		if err := s.open(lvl); err != nil {
			return err
		}
	}
	n, err := sf.f.Write(data)
	sf.size += int64(n)
	if err != nil {
		return fmt.Errorf("Could not write status log %s: %w", sf.name, err)
	}
	return nil
}

// open starts a new file for the level, with glog's header, and points the
// level's symlink at it (failures to link are ignored, as glog does).
func (s *statusFiles) open(lvl int) error {
	now := s.now().UTC()
	base := fmt.Sprintf("%s.%s.%s.%d", s.prog, levelNames[lvl], now.Format("20060102-150405"), s.pid)
	name := filepath.Join(s.dir, base)
	sf := &s.files[lvl]
	if sf.f != nil && sf.name == name {
		return nil // same second: keep appending rather than reopen in a loop
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, glogFileMode)
	if err != nil {
		return fmt.Errorf("Could not create status log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("Could not create status log: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		d := now.Sub(s.start.UTC())
		if d < 0 {
			d = 0
		}
		secs := int64(d / time.Second)
		hdr := fmt.Sprintf("Log file created at: %s\nRunning on machine: %s\nRunning duration (h:mm:ss): %d:%02d:%02d\nLog line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n",
			now.Format("2006/01/02 15:04:05"), s.host, secs/3600, secs/60%60, secs%60)
		n, err := f.WriteString(hdr)
		size += int64(n)
		if err != nil {
			f.Close()
			return fmt.Errorf("Could not write status log %s: %w", name, err)
		}
	}
	if sf.f != nil {
		sf.f.Close()
	}
	*sf = statusFile{f: f, name: name, size: size}
	link := filepath.Join(s.dir, s.prog+"."+levelNames[lvl])
	os.Remove(link)
	os.Symlink(base, link)
	return nil
}

func (s *statusFiles) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for i := range s.files {
		if s.files[i].f != nil {
			errs = append(errs, s.files[i].f.Close())
			s.files[i].f = nil
		}
	}
	return errors.Join(errs...)
}
