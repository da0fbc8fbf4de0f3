package carver

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/zstdframe"
)

// maxSkipped bounds the skipped paths a record lists.
const maxSkipped = 100

// written is a finished archive file: its size and sha256.
type written struct {
	size   int64
	sha256 string
}

// hashingFile writes through a buffer to a new private file, counting and
// hashing what it writes.
type hashingFile struct {
	f    *os.File
	bw   *bufio.Writer
	h    io.Writer
	sum  func() []byte
	size int64
}

func createHashing(path string) (*hashingFile, error) {
	// O_EXCL: the directory is ours and fresh; a file already there is
	// not one this carve made.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	return &hashingFile{f: f, bw: bufio.NewWriterSize(f, 1<<20), h: h, sum: func() []byte { return h.Sum(nil) }}, nil
}

func (w *hashingFile) Write(p []byte) (int, error) {
	n, err := w.bw.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// finish flushes and closes the file.
func (w *hashingFile) finish() (written, error) {
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return written{size: w.size, sha256: hex.EncodeToString(w.sum())}, err
}

func (w *hashingFile) abort() { w.f.Close() }

// writeArchive writes a tar of the regular files among paths to dst. A
// path that is missing, not a regular file or unreadable is left out and
// reported in skipped, as osquery leaves it out; only a failure of the
// archive itself (the disk, a shutdown) is an error. Members are named by
// the cleaned absolute path without its leading '/' ("etc/hosts"), so
// unpacking the archive never writes outside the directory it is unpacked
// in; names that need it are stored in PAX records, so any byte string a
// file name holds survives.
func writeArchive(ctx context.Context, dst string, paths []string, log *slog.Logger) (written, []string, error) {
	out, err := createHashing(dst)
	if err != nil {
		return written{}, nil, err
	}
	var skipped []string
	nSkipped := 0
	skip := func(p string, why error) {
		nSkipped++
		log.Debug("File left out of carve", "path", p, "err", why)
		if len(skipped) < maxSkipped {
			skipped = append(skipped, fmt.Sprintf("%s: %v", p, why))
		}
	}
	tw := tar.NewWriter(out)
	seen := make(map[string]bool, len(paths))
	files := 0
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			out.abort()
			return written{}, skipped, err
		}
		name, err := memberName(p)
		if err != nil {
			skip(p, err)
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		// The path opened is the cleaned one the member is named after.
		added, err := addFile(ctx, tw, "/"+name, name)
		if err != nil {
			// The archive cannot be written.
			out.abort()
			return written{}, skipped, err
		}
		if added != nil {
			skip(p, added)
			if !errors.Is(added, errPartial) {
				continue
			}
		}
		files++
	}
	if err := tw.Close(); err != nil {
		out.abort()
		return written{}, skipped, err
	}
	res, err := out.finish()
	if nSkipped > 0 {
		log.Warn(fmt.Sprintf("Carve left out %d of %d paths", nSkipped, len(paths)), "first", skipped[0])
	}
	log.Debug("Carve archive written", "files", files, "size", res.size)
	return res, skipped, err
}

// memberName is the tar name of path p.
func memberName(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("path holds a NUL byte")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	name := strings.TrimLeft(abs, "/")
	if name == "" {
		return "", errors.New("is a directory")
	}
	return name, nil
}

// errPartial marks a file archived with fewer bytes than its size said:
// the rest of its member is zeros.
var errPartial = errors.New("partially read")

// sourceReader remembers the error of the file being archived, so a read
// failure (skip the file) is told from a write failure (fail the carve).
type sourceReader struct {
	ctx context.Context
	r   io.Reader
	err error
	n   int64
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// zeros pads a member whose file ended early.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// addFile appends p as member name. It returns (nil, nil) when the file
// was archived whole, (why, nil) when it was left out (or, with
// errPartial, archived in part), and an error when the archive failed.
func addFile(ctx context.Context, tw *tar.Writer, p, name string) (skipped error, err error) {
	// Stat before opening: opening a device or a FIFO can block or have
	// side effects (a watchdog device arms on open).
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}, nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errors.New("is a directory"), nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("not a regular file"), nil
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}, nil
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	// The path may have been replaced between stat and open.
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return &os.PathError{Op: "fstat", Path: p, Err: err}, nil
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("not a regular file"), nil
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     int64(fst.Mode & 0o777),
		Size:     fst.Size,
		ModTime:  time.Unix(fst.Mtim.Sec, fst.Mtim.Nsec).Truncate(time.Second),
		Uid:      int(fst.Uid),
		Gid:      int(fst.Gid),
	}
	// Read the first byte before the header is written: a file that
	// cannot be read at all (EIO, a FUSE error) is then left out instead
	// of archived as zeros.
	var first [1]byte
	n0, rerr := f.Read(first[:])
	if rerr != nil && rerr != io.EOF {
		return &os.PathError{Op: "read", Path: p, Err: rerr}, nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("tar header of %s: %w", p, err)
	}
	src := &sourceReader{ctx: ctx, r: io.MultiReader(strings.NewReader(string(first[:n0])), f)}
	// A file that grows while it is read is cut at the size the header
	// announced.
	n, err := io.CopyN(tw, src, fst.Size)
	if err == nil {
		return nil, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if src.err == nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("archive %s: %w", p, err)
	}
	// The file shrank or failed part-way: keep the member valid with
	// zeros and say so.
	if _, err := io.CopyN(tw, zeros{}, fst.Size-n); err != nil {
		return nil, fmt.Errorf("archive %s: %w", p, err)
	}
	why := src.err
	if why == nil {
		why = errors.New("file shrank while it was read")
	}
	return fmt.Errorf("%w: %d of %d bytes: %v", errPartial, n, fst.Size, why), nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// compressArchive writes src as a .tar.zst at dst.
func compressArchive(ctx context.Context, src, dst string) (written, error) {
	in, err := os.Open(src)
	if err != nil {
		return written{}, err
	}
	defer in.Close()
	out, err := createHashing(dst)
	if err != nil {
		return written{}, err
	}
	if err := zstdframe.Compress(out, ctxReader{ctx, bufio.NewReaderSize(in, 1<<20)}); err != nil {
		out.abort()
		return written{}, err
	}
	return out.finish()
}
