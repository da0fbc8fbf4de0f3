package logger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/testenv"
)

func newFS(t *testing.T, cfg Config) (*Filesystem, string) {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "log", "osquery")
	}
	f, err := NewFilesystem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, cfg.Path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

func TestFilesystemWrites(t *testing.T) {
	ctx := context.Background()
	f, dir := newFS(t, Config{})
	results := filepath.Join(dir, ResultsFile)
	// Created empty at setup (directories too), snapshots lazily.
	if b, err := os.ReadFile(results); err != nil || len(b) != 0 {
		t.Fatalf("results file at setup: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, SnapshotsFile)); !os.IsNotExist(err) {
		t.Fatalf("snapshots file exists before the first snapshot: %v", err)
	}
	if m := fileMode(t, results).Perm(); m != 0o640 {
		t.Fatalf("results mode %v", m)
	}
	for _, l := range []string{`{"a":1}`, `{"b":2}`} {
		if err := f.LogResult(ctx, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.LogSnapshot(ctx, []byte(`{"snapshot":[]}`)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, results); strings.Join(got, "|") != `{"a":1}|{"b":2}` {
		t.Fatalf("results %q", got)
	}
	if got := readLines(t, filepath.Join(dir, SnapshotsFile)); len(got) != 1 || got[0] != `{"snapshot":[]}` {
		t.Fatalf("snapshots %q", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.LogResult(ctx, []byte("x")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

func TestFilesystemMode(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, ResultsFile)
	// An existing file with looser permissions is restricted, and the umask
	// does not apply.
	if err := os.WriteFile(results, []byte("old\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(results, 0o666)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	f, _ := newFS(t, Config{Path: dir, Mode: 0o604})
	if m := fileMode(t, results).Perm(); m != 0o604 {
		t.Fatalf("mode %v, want 0604", m)
	}
	f.LogSnapshot(context.Background(), []byte("s"))
	if m := fileMode(t, filepath.Join(dir, SnapshotsFile)).Perm(); m != 0o604 {
		t.Fatalf("snapshot mode %v", m)
	}
	if got := readLines(t, results); len(got) != 1 || got[0] != "old" {
		t.Fatalf("existing content lost: %q", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]os.FileMode{"0640": 0o640, "600": 0o600, "0644": 0o644, "04755": 0o755 | os.ModeSetuid, "7777": 0o777 | os.ModeSetuid | os.ModeSetgid | os.ModeSticky} {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0800", "abc", "010000", "-640", "12345678"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestFilesystemReopensMovedFile(t *testing.T) {
	ctx := context.Background()
	f, dir := newFS(t, Config{})
	results := filepath.Join(dir, ResultsFile)
	f.LogResult(ctx, []byte("one"))
	// External logrotate moves the file away; the next line goes to a new
	// file at the configured path, as osquery's open-per-write does.
	if err := os.Rename(results, results+".moved"); err != nil {
		t.Fatal(err)
	}
	f.LogResult(ctx, []byte("two"))
	if got := readLines(t, results); len(got) != 1 || got[0] != "two" {
		t.Fatalf("after move %q", got)
	}
	if got := readLines(t, results+".moved"); len(got) != 1 || got[0] != "one" {
		t.Fatalf("moved file %q", got)
	}
	if m := fileMode(t, results).Perm(); m != 0o640 {
		t.Fatalf("recreated mode %v", m)
	}
}

func TestFilesystemUnwritable(t *testing.T) {
	base := t.TempDir()
	// A path below a regular file can never be created, even by root.
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	_, err := New("filesystem", Config{Path: filepath.Join(file, "osquery")})
	if err == nil || !strings.Contains(err.Error(), "Cannot activate filesystem logger plugin: Could not create logger_path directory") ||
		!strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("below a file: %v", err)
	}
	// A read-only directory: permission bits do not stop root, but sysfs
	// refuses new files to everyone.
	ro := filepath.Join(base, "ro")
	os.Mkdir(ro, 0o555)
	if os.Geteuid() == 0 {
		ro = "/sys/kernel"
	}
	_, err = New("filesystem", Config{Path: ro})
	if err == nil || !strings.Contains(err.Error(), "Cannot activate filesystem logger plugin: Could not create file: open "+filepath.Join(ro, ResultsFile)+": permission denied") {
		t.Fatalf("read-only dir: %v", err)
	}
}

func TestFilesystemWriteFailureReturned(t *testing.T) {
	f, dir := newFS(t, Config{})
	// Replace the results file with a directory: reopening fails and the
	// error reaches the caller (the daemon exits 78 on it).
	results := filepath.Join(dir, ResultsFile)
	os.Remove(results)
	os.Mkdir(results, 0o755)
	err := f.LogResult(context.Background(), []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "Could not create file") {
		t.Fatalf("got %v", err)
	}
	// /dev/full fails the write itself. The logger sets the mode of what it
	// opens (0666 is /dev/full's own), which only its owner may do.
	t.Run("dev-full", func(t *testing.T) {
		testenv.Root(t, "the logger chmods the file it writes, and /dev/full is root's")
		full := &logFile{path: "/dev/full", mode: 0o666}
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skipf("needs /dev/full: %v", err)
		}
		if err := full.write([]byte("x"), false); err == nil || !strings.Contains(err.Error(), "Failed to write contents to file: /dev/full") {
			t.Fatalf("/dev/full: %v", err)
		}
	})
}

func TestFilesystemBigLine(t *testing.T) {
	f, dir := newFS(t, Config{})
	line := bytes.Repeat([]byte("x"), 1<<20)
	line[0], line[len(line)-1] = '{', '}'
	for i := 0; i < 3; i++ {
		if err := f.LogResult(context.Background(), line); err != nil {
			t.Fatal(err)
		}
	}
	got := readLines(t, filepath.Join(dir, ResultsFile))
	if len(got) != 3 || got[2] != string(line) {
		t.Fatalf("%d lines", len(got))
	}
}

// TestFilesystemConcurrent has writers race on both files; with -race this
// also checks the locking. Every line must come out whole.
func TestFilesystemConcurrent(t *testing.T) {
	f, dir := newFS(t, Config{Rotate: true, RotateSize: 64 << 10, RotateMaxFiles: 100})
	const writers, per = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pad := strings.Repeat(string(rune('a'+w)), 100+w*37)
			for i := 0; i < per; i++ {
				line := []byte(fmt.Sprintf(`{"w":%d,"i":%d,"pad":"%s"}`, w, i, pad))
				if err := f.LogResult(context.Background(), line); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					f.LogStatus(context.Background(), []logging.Status{{Severity: logging.Warning, File: "x.go", Line: i, Message: string(line), Time: time.Now()}})
				}
			}
		}()
	}
	wg.Wait()
	var all []string
	matches, _ := filepath.Glob(filepath.Join(dir, ResultsFile+"*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(m, ".zst") {
			b = zstdDecode(t, b)
		}
		if len(b) > 0 {
			all = append(all, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		}
	}
	line := regexp.MustCompile(`^\{"w":(\d),"i":(\d+),"pad":"([a-h])+"\}$`)
	seen := map[string]bool{}
	for _, l := range all {
		m := line.FindStringSubmatch(l)
		if m == nil || m[3][0] != byte('a'+int(m[1][0]-'0')) {
			t.Fatalf("torn line %q", l)
		}
		seen[m[1]+"/"+m[2]] = true
	}
	if len(seen) != writers*per || len(all) != writers*per {
		t.Fatalf("%d distinct of %d lines, want %d", len(seen), len(all), writers*per)
	}
	status, err := os.ReadFile(filepath.Join(dir, "osqueryd.WARNING"))
	if err != nil {
		t.Fatal(err)
	}
	glogLine := regexp.MustCompile(`^W\d{4} \d\d:\d\d:\d\d\.\d{6} \d+ x\.go:\d+\] \{"w":\d,"i":\d+,"pad":"[a-h]+"\}$`)
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(string(status), "\n"), "\n") {
		if strings.HasPrefix(l, "W") {
			if !glogLine.MatchString(l) {
				t.Fatalf("torn status line %q", l)
			}
			n++
		}
	}
	if n != writers*per/10 {
		t.Fatalf("%d status lines", n)
	}
}

// TestRotation follows osquery's LogRotate through several rotations:
// X -> X.1 -> X.2.zst -> ... with files past the maximum deleted.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	f, dir := newFS(t, Config{Rotate: true, RotateSize: 10, RotateMaxFiles: 3})
	// Each line is 10 bytes with its newline, so every write after the
	// first finds the file at or past 10 bytes and rotates first.
	for i := 0; i < 6; i++ {
		if err := f.LogResult(ctx, []byte(fmt.Sprintf("line-%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		ResultsFile:            "line-0005\n",
		ResultsFile + ".1":     "line-0004\n",
		ResultsFile + ".2.zst": "line-0003\n",
		ResultsFile + ".3.zst": "line-0002\n",
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != len(want) {
		t.Fatalf("files %v", names)
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".zst") {
			if !bytes.HasPrefix(b, []byte{0x28, 0xB5, 0x2F, 0xFD}) {
				t.Fatalf("%s is not zstd", name)
			}
			b = zstdDecode(t, b)
		}
		if string(b) != content {
			t.Errorf("%s: %q want %q", name, b, content)
		}
		if m := fileMode(t, filepath.Join(dir, name)).Perm(); m != 0o640 {
			t.Errorf("%s mode %v", name, m)
		}
	}
	// Without --logger_rotate nothing moves however big the file gets.
	g, dir2 := newFS(t, Config{RotateSize: 10})
	for i := 0; i < 5; i++ {
		g.LogResult(ctx, []byte("0123456789abcdef"))
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 1 || len(readLines(t, filepath.Join(dir2, ResultsFile))) != 5 {
		t.Fatalf("rotated without logger_rotate: %v", entries)
	}
}

// TestRotationZstdTool decompresses a rotated file of many lines (several
// zstd blocks) with the real zstd tool when it is installed.
func TestRotationZstdTool(t *testing.T) {
	zstd, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd not installed")
	}
	ctx := context.Background()
	f, dir := newFS(t, Config{Rotate: true, RotateSize: 300 << 10, RotateMaxFiles: 5})
	var want bytes.Buffer
	for i := 0; ; i++ {
		line := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("p", i%50))
		want.WriteString(line + "\n")
		f.LogSnapshot(ctx, []byte(line))
		if want.Len() > 300<<10 {
			break
		}
	}
	f.LogSnapshot(ctx, []byte("next")) // rotates: X -> X.1
	f.LogSnapshot(ctx, []byte(strings.Repeat("y", 300<<10)))
	f.LogSnapshot(ctx, []byte("last")) // rotates: X.1 -> X.2.zst, X -> X.1
	out, err := exec.Command(zstd, "-dc", filepath.Join(dir, SnapshotsFile+".2.zst")).Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatalf("zstd output differs: %d bytes, want %d", len(out), want.Len())
	}
	if got := zstdDecode(t, mustRead(t, filepath.Join(dir, SnapshotsFile+".2.zst"))); !bytes.Equal(got, want.Bytes()) {
		t.Fatal("own decoder differs")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestZstdStoredFrames(t *testing.T) {
	for _, n := range []int{0, 1, zstdMaxBlockSize - 1, zstdMaxBlockSize, zstdMaxBlockSize + 1, 3*zstdMaxBlockSize + 17} {
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(i * 7)
		}
		var buf bytes.Buffer
		if err := writeZstdStored(&buf, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if got := zstdDecode(t, buf.Bytes()); !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: round trip differs", n)
		}
	}
}

// zstdDecode reads the frames writeZstdStored produces (raw and RLE blocks
// only), checking the framing strictly.
func zstdDecode(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 6 || binary.LittleEndian.Uint32(b) != zstdMagic {
		t.Fatalf("bad magic")
	}
	fhd := b[4]
	if fhd&0x20 != 0 || fhd&0xC3 != 0 {
		t.Fatalf("unexpected frame header descriptor %#x", fhd)
	}
	window := 1 << (10 + b[5]>>3)
	pos := 6
	var out []byte
	for {
		if pos+3 > len(b) {
			t.Fatalf("truncated block header")
		}
		h := uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16
		pos += 3
		last, typ, size := h&1, (h>>1)&3, int(h>>3)
		if size > min(window, zstdMaxBlockSize) {
			t.Fatalf("block of %d bytes exceeds the window", size)
		}
		switch typ {
		case 0:
			if pos+size > len(b) {
				t.Fatalf("truncated raw block")
			}
			out = append(out, b[pos:pos+size]...)
			pos += size
		case 1:
			out = append(out, bytes.Repeat(b[pos:pos+1], size)...)
			pos++
		default:
			t.Fatalf("block type %d", typ)
		}
		if last == 1 {
			break
		}
	}
	if pos != len(b) {
		t.Fatalf("%d trailing bytes", len(b)-pos)
	}
	return out
}

func TestStatusFiles(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2025, 1, 6, 12, 34, 56, 0, time.UTC)
	f, dir := newFS(t, Config{Pid: 4242, Hostname: "box", Now: func() time.Time { return clock }, StatusMaxSize: 400})
	at := clock.Add(1500 * time.Millisecond)
	st := func(sev logging.Severity, msg string) logging.Status {
		return logging.Status{Severity: sev, File: "f.go", Line: 3, Message: msg, Time: at}
	}
	if err := f.LogStatus(ctx, []logging.Status{st(logging.Info, "i1"), st(logging.Warning, "w1"), st(logging.Error, "e1")}); err != nil {
		t.Fatal(err)
	}
	if err := f.LogStatus(ctx, []logging.Status{st(logging.Fatal, "f1")}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"INFO":    {"I0106 12:34:57.500000 4242 f.go:3] i1", "W0106 12:34:57.500000 4242 f.go:3] w1", "E0106 12:34:57.500000 4242 f.go:3] e1", "F0106 12:34:57.500000 4242 f.go:3] f1"},
		"WARNING": {"W0106 12:34:57.500000 4242 f.go:3] w1", "E0106 12:34:57.500000 4242 f.go:3] e1", "F0106 12:34:57.500000 4242 f.go:3] f1"},
		"ERROR":   {"E0106 12:34:57.500000 4242 f.go:3] e1", "F0106 12:34:57.500000 4242 f.go:3] f1"},
	}
	for lvl, lines := range want {
		name := "osqueryd." + lvl + ".20250106-123456.4242"
		link, err := os.Readlink(filepath.Join(dir, "osqueryd."+lvl))
		if err != nil || link != name {
			t.Fatalf("%s symlink -> %q %v", lvl, link, err)
		}
		got := readLines(t, filepath.Join(dir, name))
		header := []string{
			"Log file created at: 2025/01/06 12:34:56",
			"Running on machine: box",
			"Running duration (h:mm:ss): 0:00:00",
			"Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg",
		}
		if strings.Join(got, "\n") != strings.Join(append(header, lines...), "\n") {
			t.Errorf("%s:\n%s", lvl, strings.Join(got, "\n"))
		}
	}
	// Past StatusMaxSize a new file starts (a new second, a new name) and
	// the symlink follows it.
	clock = clock.Add(65 * time.Minute)
	for i := 0; i < 10; i++ {
		f.LogStatus(ctx, []logging.Status{st(logging.Info, strings.Repeat("m", 50))})
	}
	link, _ := os.Readlink(filepath.Join(dir, "osqueryd.INFO"))
	if link != "osqueryd.INFO.20250106-133956.4242" {
		t.Fatalf("INFO link after rollover: %q", link)
	}
	head := readLines(t, filepath.Join(dir, link))[2]
	if head != "Running duration (h:mm:ss): 1:05:00" {
		t.Fatalf("header %q", head)
	}
	// The WARNING file saw no new status and stays put.
	if link, _ := os.Readlink(filepath.Join(dir, "osqueryd.WARNING")); link != "osqueryd.WARNING.20250106-123456.4242" {
		t.Fatalf("WARNING link %q", link)
	}
}

func TestStatusFilesUnwritable(t *testing.T) {
	f, dir := newFS(t, Config{})
	// Take the directory away: statuses fail with a clear error.
	os.RemoveAll(dir)
	os.WriteFile(dir, nil, 0o644)
	err := f.LogStatus(context.Background(), []logging.Status{{Message: "x", Time: time.Now()}})
	if err == nil || !strings.Contains(err.Error(), "Could not create status log") {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("cause lost: %v", err)
	}
}
