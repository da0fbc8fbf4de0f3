package utility

import (
	"context"
	"github.com/gosquery/gosquery/internal/likepath"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fileFixture builds a directory tree with the awkward cases the file and
// hash tables must survive, and returns its root:
//
//	a.txt "hello"            b_c.txt, bXc.txt (for '_')
//	100%done (for '%')       "with space.txt", "new\nline", "bad\xffname"
//	brack[1] (glob syntax)   .hidden
//	fifo (a FIFO)            unreadable (mode 0000) setuid (mode 4755)
//	link -> a.txt            abslink -> /a.txt (dangling on the host)
//	dangling -> nowhere      loop1 <-> loop2 (a symlink loop)
//	fifolink -> fifo         sub/ with c.txt, .dot/d.txt, deeper/e.txt, up -> ..
//	empty/
func fileFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode is filtered by the umask, and os.FileMode keeps
		// setuid elsewhere; set the raw bits.
		if err := unix.Chmod(p, uint32(mode)); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "hello", 0o644)
	write("b_c.txt", "underscore", 0o644)
	write("bXc.txt", "not an underscore", 0o644)
	write("100%done", "percent", 0o644)
	write("with space.txt", "space", 0o644)
	write("new\nline", "newline", 0o644)
	write("bad\xffname", "not utf-8", 0o644)
	write("brack[1]", "bracket", 0o644)
	write(".hidden", "hidden", 0o644)
	write("unreadable", "secret", 0)
	write("setuid", "#!/bin/true\n", 0o4755)
	write("sub/c.txt", "c", 0o644)
	write("sub/.dot/d.txt", "d", 0o644)
	write("sub/deeper/e.txt", "e", 0o644)
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink("a.txt", "link")
	symlink("/a.txt", "abslink")
	symlink("nowhere", "dangling")
	symlink("loop2", "loop1")
	symlink("loop1", "loop2")
	symlink("fifo", "fifolink")
	symlink("..", "sub/up")
	return root
}

func fileTestLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// expand runs a pattern through a fresh glob and returns what it emitted,
// directories marked with a trailing "/" for easy comparison.
func fileExpand(t *testing.T, v *fileView, pattern string) []string {
	t.Helper()
	var out []string
	expandFileLike(context.Background(), v, pattern, func(p string, isDir bool) bool {
		if isDir && !strings.HasSuffix(p, "/") {
			p += "/"
		}
		out = append(out, p)
		return true
	})
	return out
}

func TestMatchFileComponent(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"%", "a.txt", true},
		{"%", ".hidden", false},
		{".%", ".hidden", true},
		{"%.txt", "a.txt", true},
		{"%.txt", "a.txt.bak", false},
		{"a%", "a", true},
		{"a%b%c", "aXXbYYc", true},
		{"a%b%c", "aXXbYY", false},
		{"%%", "anything", true},
		{"b_c.txt", "b_c.txt", true},
		// '_' is literal, as osquery's glob treats it.
		{"b_c.txt", "bXc.txt", false},
		{"brack[1]", "brack[1]", true},
		{"brack[1]", "brack1", false},
		{"100%", "100%done", true},
		{"%\xff%", "bad\xffname", true},
		{"", "", true},
		{"", "x", false},
		{"%a%a%a%a%a%b", strings.Repeat("a", 200), false},
	} {
		if got := likepath.MatchComponent(c.pattern, c.name); got != c.want {
			t.Errorf("likepath.MatchComponent(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestSplitFilePath(t *testing.T) {
	for _, c := range []struct{ in, dir, name string }{
		{"/etc/passwd", "/etc", "passwd"},
		{"/etc/ssh/", "/etc", "ssh"},
		{"/etc//passwd", "/etc", "passwd"},
		{"/passwd", "/", "passwd"},
		{"/", "", "/"},
		{"//", "", "/"},
		{"name", "", "name"},
		{"rel/name", "rel", "name"},
		{"", "", ""},
		{"/a/new\nline", "/a", "new\nline"},
	} {
		dir, name := splitFilePath(c.in)
		if dir != c.dir || name != c.name {
			t.Errorf("splitFilePath(%q) = %q, %q; want %q, %q", c.in, dir, name, c.dir, c.name)
		}
	}
}

func TestParseFileMountNamespace(t *testing.T) {
	for in, want := range map[string]string{
		"mnt:[4026531840]": "4026531840",
		"mnt:[]":           "",
		"mnt:4026531840":   "",
		"mnt:[12":          "",
		"mnt:[1a]":         "",
		"":                 "",
	} {
		got, ok := parseFileMountNamespace(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseFileMountNamespace(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzParseFileMountNamespace(f *testing.F) {
	f.Add("mnt:[4026531840]")
	f.Add("mnt:[")
	f.Add("]]]][[[[")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseFileMountNamespace(s)
		if ok && (id == "" || !strings.Contains(s, "["+id+"]")) {
			t.Fatalf("%q gave %q", s, id)
		}
	})
}

func FuzzMatchFileComponent(f *testing.F) {
	f.Add("%.txt", "a.txt")
	f.Add("a%b%c%", "abcabcabc")
	f.Add("%%%", ".x")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := likepath.MatchComponent(pattern, name)
		// A pattern without '%' matches exactly itself.
		if !strings.Contains(pattern, "%") && got != (pattern == name) {
			t.Fatalf("literal %q vs %q: %v", pattern, name, got)
		}
		// Every name matches itself when it does not start with '.'.
		if !strings.HasPrefix(name, ".") && !likepath.MatchComponent(name, name) && !strings.Contains(name, "%") {
			t.Fatalf("%q does not match itself", name)
		}
	})
}

func TestExpandFileLike(t *testing.T) {
	root := fileFixture(t)
	v, err := openFileView("/", fileTestLog())
	if err != nil {
		t.Fatal(err)
	}
	// r prefixes names with the root, in byte order as the glob sorts.
	r := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = root + "/" + n
		}
		slices.Sort(out)
		return out
	}
	topLevel := r("100%done", "a.txt", "abslink", "b_c.txt", "bXc.txt", "bad\xffname", "brack[1]",
		"dangling", "empty/", "fifo", "fifolink", "link", "loop1", "loop2", "new\nline", "setuid",
		"sub/", "unreadable", "with space.txt")
	for _, c := range []struct {
		pattern string
		want    []string
	}{
		// '%' lists one level, without hidden entries, sorted.
		{root + "/%", topLevel},
		{root + "/%.txt", r("a.txt", "b_c.txt", "bXc.txt", "with space.txt")},
		{root + "/b_c%", r("b_c.txt")},
		{root + "/100%", r("100%done")},
		{root + "/brack[1]", r("brack[1]")},
		{root + "/%[1]", r("brack[1]")},
		{root + "/.%", r(".hidden")},
		{root + "/%/%.txt", r("sub/c.txt")},
		{root + "/sub/%", r("sub/c.txt", "sub/deeper/", "sub/up/")},
		// A trailing '/' keeps directories only, and keeps the slash.
		{root + "/%/", r("empty/", "sub/")},
		// A literal pattern yields the path if it exists, even a dangling
		// symlink, as glob(3) does.
		{root + "/dangling", r("dangling")},
		{root + "/loop1", r("loop1")},
		{root + "/missing", nil},
		{root + "/missing/%", nil},
		{root + "/a.txt/%", nil},
		// Double slashes are kept so the path still matches the pattern.
		{root + "//a.%", []string{root + "//a.txt"}},
		{root + "/new\nline", r("new\nline")},
		{"", nil},
		{root + "/a\x00b", nil},
	} {
		got := fileExpand(t, v, c.pattern)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q:\n got %q\nwant %q", c.pattern, got, c.want)
		}
	}

	// %% recurses: hidden entries below the first level, symlinked
	// directories followed once (sub/up is the root again, already listed).
	got := fileExpand(t, v, root+"/%%")
	want := append(slices.Clone(topLevel),
		r("sub/c.txt", "sub/.dot/", "sub/.dot/d.txt", "sub/deeper/", "sub/deeper/e.txt", "sub/up/")...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%%%%:\n got %q\nwant %q", got, want)
	}
	got = fileExpand(t, v, root+"/sub%%")
	want = r("sub/", "sub/.dot/", "sub/.dot/d.txt", "sub/c.txt", "sub/deeper/", "sub/deeper/e.txt", "sub/up/")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("sub%%%%:\n got %q\nwant %q", got, want)
	}
	// %% anywhere but the end is a plain %.
	if got := fileExpand(t, v, root+"/%%/c.txt"); !slices.Equal(got, r("sub/c.txt")) {
		t.Errorf("%%%%/c.txt: %q", got)
	}
}

func TestExpandFileLikeRelative(t *testing.T) {
	root := fileFixture(t)
	t.Chdir(root)
	v, err := openFileView("/", fileTestLog())
	if err != nil {
		t.Fatal(err)
	}
	got := fileExpand(t, v, "%.txt")
	want := []string{root + "/a.txt", root + "/bXc.txt", root + "/b_c.txt", root + "/with space.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("relative pattern: got %q, want %q", got, want)
	}
}

// A view rooted at the fixture resolves absolute symlinks inside it.
func TestExpandFileLikeInRoot(t *testing.T) {
	root := fileFixture(t)
	v, err := openFileView(root, fileTestLog())
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	if got := fileExpand(t, v, "/%.txt"); !slices.Equal(got, []string{"/a.txt", "/bXc.txt", "/b_c.txt", "/with space.txt"}) {
		t.Errorf("in root: %q", got)
	}
	// sub/up -> .. must not climb out of the root.
	if got := fileExpand(t, v, "/sub/up/sub/up/a.txt"); !slices.Equal(got, []string{"/sub/up/sub/up/a.txt"}) {
		t.Errorf("dotdot in root: %q", got)
	}
	st, err := v.stat("/abslink", true)
	if err != nil {
		t.Fatalf("abslink should resolve inside the root: %v", err)
	}
	var a syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "a.txt"), &a); err != nil {
		t.Fatal(err)
	}
	if st.ino != a.Ino {
		t.Errorf("abslink resolved to inode %d, a.txt is %d", st.ino, a.Ino)
	}
	if _, err := v.stat("/../../../../etc/passwd", true); err == nil && !v.joinRoot {
		// RESOLVE_IN_ROOT clamps ".." at the root: this names /etc/passwd
		// inside the fixture, which does not exist.
		t.Error("path escaped the view's root")
	}
}

func TestExpandFileLikeLimits(t *testing.T) {
	root := t.TempDir()
	// A chain deeper than the recursion limit.
	deep := root
	for range fileGlobMaxDepth + 10 {
		deep = filepath.Join(deep, "d")
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := openFileView("/", fileTestLog())
	if err != nil {
		t.Fatal(err)
	}
	maxDepth := 0
	expandFileLike(context.Background(), v, root+"/%%", func(p string, _ bool) bool {
		maxDepth = max(maxDepth, strings.Count(strings.TrimPrefix(p, root), "/"))
		return true
	})
	// The match itself is level 1; descend adds at most fileGlobMaxDepth.
	if maxDepth != fileGlobMaxDepth+1 {
		t.Errorf("recursion reached depth %d, want %d", maxDepth, fileGlobMaxDepth+1)
	}

	// The result limit stops an expansion.
	fix := fileFixture(t)
	g := &fileGlob{ctx: context.Background(), view: v, maxResults: 5}
	n := 0
	g.emit = func(string, bool) bool { n++; return true }
	g.run(fix + "/%%")
	if n != 5 {
		t.Errorf("result limit: %d results, want 5", n)
	}

	// emit returning false stops at once.
	n = 0
	expandFileLike(context.Background(), v, fix+"/%%", func(string, bool) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("stop: %d results, want 3", n)
	}

	// A cancelled context stops the walk.
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	expandFileLike(ctx, v, fix+"/%%", func(string, bool) bool {
		n++
		if n == 2 {
			cancel()
		}
		return true
	})
	if n != 2 {
		t.Errorf("cancel: %d results, want 2", n)
	}
	n = 0
	expandFileLike(ctx, v, fix+"/%", func(string, bool) bool { n++; return true })
	if n != 0 {
		t.Errorf("cancelled before start: %d results", n)
	}
}
