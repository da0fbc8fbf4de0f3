package carver

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/gosquery/gosquery/internal/likepath"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
}

func expand(pattern string) []string {
	var out []string
	ExpandLike(context.Background(), pattern, func(p string) bool { out = append(out, p); return true })
	return out
}

func TestExpandLike(t *testing.T) {
	d := t.TempDir()
	for _, f := range []string{"a.txt", "b.log", ".hidden", "x_y", "xzy", "sub/c.txt", "sub/.h/deep", "sub/s2/e.txt", "a[1]"} {
		touch(t, filepath.Join(d, f))
	}
	// A symlink loop below sub is walked once.
	if err := os.Symlink(filepath.Join(d, "sub"), filepath.Join(d, "sub", "s2", "up")); err != nil {
		t.Fatal(err)
	}
	j := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = d + n
		}
		return out
	}
	cases := map[string][]string{
		// '%' stays in one component and skips dot files.
		d + "/%":       j("/a.txt", "/a[1]", "/b.log", "/sub", "/x_y", "/xzy"),
		d + "/%.txt":   j("/a.txt"),
		d + "/%/%.txt": j("/sub/c.txt"),
		// '_' is literal, as are glob's own metacharacters.
		d + "/x_y":  j("/x_y"),
		d + "/a[1]": j("/a[1]"),
		// A trailing %% takes everything below, hidden entries too, and
		// enters the looping symlink's target once.
		d + "/sub/%%": j("/sub/c.txt", "/sub/s2", "/sub/s2/e.txt", "/sub/s2/up"),
		// A trailing / names directories only.
		d + "/%/":         j("/sub/"),
		d + "/missing/%":  nil,
		d + "/a.txt":      j("/a.txt"),
		d + "/nothing":    nil,
		"":                nil,
		d + "/a\x00":      nil,
		d + "/.%":         j("/.hidden"),
		d + "/sub/.h/%":   j("/sub/.h/deep"),
		d + "/%/.h/deep":  j("/sub/.h/deep"),
		d + "/%.txt/%":    nil,
		d + "/sub/%%.txt": j("/sub/c.txt"), // %% inside a component is %
	}
	for pattern, want := range cases {
		got := expand(pattern)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", pattern, got, want)
		}
	}
	// %% on a directory with hidden entries.
	got := expand(d + "/sub%%")
	for _, w := range j("/sub", "/sub/.h", "/sub/.h/deep", "/sub/c.txt") {
		if !slices.Contains(got, w) {
			t.Errorf("sub%%%%: %s missing from %q", w, got)
		}
	}
	// emit returning false stops the walk.
	n := 0
	ExpandLike(context.Background(), d+"/%", func(string) bool { n++; return false })
	if n != 1 {
		t.Errorf("%d paths after stop", n)
	}
	// A relative pattern is taken against the working directory.
	wd, _ := os.Getwd()
	if err := os.Chdir(d); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	if got := expand("%.log"); !slices.Equal(got, j("/b.log")) {
		t.Errorf("relative: %q", got)
	}
}

func TestMatchComponent(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"%", "abc", true}, {"%", ".abc", false}, {".%", ".abc", true},
		{"a%c", "abc", true}, {"a%c", "ac", true}, {"a%c", "abd", false},
		{"%%", "x", true}, {"a%b%c", "aXbYc", true}, {"a%b%c", "aXcYb", false},
		{"abc", "abc", true}, {"abc", "abcd", false}, {"", "", true},
	} {
		if got := likepath.MatchComponent(c.pattern, c.name); got != c.want {
			t.Errorf("likepath.MatchComponent(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

// A file that yields fewer bytes than its size (sysfs reports 4096 for a
// few bytes) is archived with zeros after its data and reported.
func TestArchivePartialFile(t *testing.T) {
	const src = "/sys/kernel/uevent_seqnum"
	st, err := os.Stat(src)
	if err != nil || st.Size() == 0 {
		t.Skipf("%s: %v (size %v): no file that reads shorter than its size", src, err, st)
	}
	content, err := os.ReadFile(src)
	if err != nil || int64(len(content)) >= st.Size() {
		t.Skipf("%s reads %d of %d bytes", src, len(content), st.Size())
	}
	dst := filepath.Join(t.TempDir(), "a.tar")
	res, skipped, err := writeArchive(context.Background(), dst, []string{src}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "partially read") {
		t.Errorf("skipped %q", skipped)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if res.size != int64(len(b)) || res.sha256 != hex.EncodeToString(sum[:]) {
		t.Errorf("result %+v for %d bytes", res, len(b))
	}
	tr := tar.NewReader(bytes.NewReader(b))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(tr)
	if hdr.Name != "sys/kernel/uevent_seqnum" || int64(len(data)) != st.Size() {
		t.Fatalf("member %q of %d bytes", hdr.Name, len(data))
	}
	// The counter may have moved between the two reads; the length of
	// what was read did not change much, the rest is zeros.
	if n := bytes.IndexByte(data, 0); n <= 0 || bytes.ContainsFunc(data[n:], func(r rune) bool { return r != 0 }) {
		t.Errorf("member is not data then zeros: %q", data[:min(64, len(data))])
	}
}

type fullDisk struct{ left int }

func (w *fullDisk) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errFull
	}
	w.left -= len(p)
	return len(p), nil
}

var errFull = errors.New("no space left on device")

// An archive whose disk fails is an error, not a skipped file.
func TestArchiveWriteFailure(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(&fullDisk{left: 64 << 10})
	skipped, err := addFile(context.Background(), tw, src, "f")
	if !errors.Is(err, errFull) || skipped != nil {
		t.Fatalf("addFile to a full disk: skipped %v, err %v", skipped, err)
	}
}

// Records keep paths that are not UTF-8 byte for byte.
func TestRecordPathsRoundTrip(t *testing.T) {
	r := Record{GUID: "g", Status: StatusScheduled, Paths: []string{"/a\xff\xfe", "/b,c", "/d\n"}}
	b, err := encodeRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Paths, r.Paths) {
		t.Errorf("paths %q, want %q", got.Paths, r.Paths)
	}
	// osquery's keys are all there.
	for _, k := range []string{`"carve_guid"`, `"time"`, `"status"`, `"sha256"`, `"size"`, `"path"`, `"request_id"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("stored record lacks %s: %s", k, b)
		}
	}
}

func TestNewGUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		g := newGUID()
		if len(g) != 36 || g[14] != '4' || !strings.ContainsRune("89ab", rune(g[19])) || strings.Count(g, "-") != 4 {
			t.Fatalf("guid %q is not a v4 UUID", g)
		}
		if seen[g] {
			t.Fatalf("guid %q twice", g)
		}
		seen[g] = true
	}
}
