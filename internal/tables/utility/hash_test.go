package utility

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func hashDigestsOf(b []byte) (string, string, string) {
	m := md5.Sum(b)
	s1 := sha1.Sum(b)
	s256 := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
}

// hashEnv is a host environment with no hashing delay, so tests that turn
// the cache off do not sleep.
func hashEnv(t *testing.T) *table.Env {
	t.Helper()
	env := tabletest.HostEnv(t)
	if err := env.Flags.Set("hash_delay", "0"); err != nil {
		t.Fatal(err)
	}
	return env
}

func hashQuery(t *testing.T, env *table.Env, where string) map[string]map[string]string {
	t.Helper()
	rows := tabletest.Query(t, env, "select * from hash where "+where)
	out := map[string]map[string]string{}
	for _, r := range rows {
		if _, dup := out[r["path"]]; dup {
			t.Errorf("%s: path %q twice", where, r["path"])
		}
		out[r["path"]] = r
	}
	return out
}

func TestHashDigests(t *testing.T) {
	root := fileFixture(t)
	env := hashEnv(t)
	check := func(r map[string]string, content []byte) {
		t.Helper()
		m, s1, s256 := hashDigestsOf(content)
		if r["md5"] != m || r["sha1"] != s1 || r["sha256"] != s256 {
			t.Errorf("%s: got %s %s %s, want %s %s %s", r["path"], r["md5"], r["sha1"], r["sha256"], m, s1, s256)
		}
	}

	rows := hashQuery(t, env, "path = "+fileSQLQuote(root+"/a.txt"))
	r, ok := rows[root+"/a.txt"]
	if !ok || r["directory"] != root {
		t.Fatalf("a.txt: %v", rows)
	}
	check(r, []byte("hello"))

	// osquery's own integration test vector.
	lorem := root + "/lorem"
	if err := os.WriteFile(lorem, []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit."), 0o644); err != nil {
		t.Fatal(err)
	}
	r = hashQuery(t, env, "path = "+fileSQLQuote(lorem))[lorem]
	if r["md5"] != "35899082e51edf667f14477ac000cbba" || r["sha1"] != "e7505beb754bed863e3885f73e3bb6866bdd7f8c" ||
		r["sha256"] != "a58dd8680234c1f8cc2ef2b325a43733605a7f16f288e072de8eae81fd8d6433" {
		t.Errorf("lorem: %v", r)
	}
	if err := os.Remove(lorem); err != nil {
		t.Fatal(err)
	}

	// A larger file crosses several read buffers.
	big := make([]byte, 300<<10+7)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(root+"/sub/big", big, 0o644); err != nil {
		t.Fatal(err)
	}
	check(hashQuery(t, env, "path = "+fileSQLQuote(root+"/sub/big"))[root+"/sub/big"], big)
	if err := os.Remove(root + "/sub/big"); err != nil {
		t.Fatal(err)
	}

	// A directory listing hashes regular files only, following symlinks:
	// no FIFO (which would block), directory, dangling link or loop.
	rows = hashQuery(t, env, "directory = "+fileSQLQuote(root))
	var got []string
	for p := range rows {
		got = append(got, strings.TrimPrefix(p, root+"/"))
	}
	slices.Sort(got)
	want := []string{".hidden", "100%done", "a.txt", "bXc.txt", "b_c.txt", "bad\xffname", "brack[1]", "link",
		"new\nline", "setuid", "unreadable", "with space.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("directory:\n got %q\nwant %q", got, want)
	}
	for p, r := range rows {
		if r["directory"] != root {
			t.Errorf("%q: directory %q", p, r["directory"])
		}
		if p == root+"/unreadable" && os.Geteuid() != 0 {
			// Not readable: the row stays, with empty digests.
			if r["md5"] != "" {
				t.Errorf("unreadable hashed as %q", r["md5"])
			}
			continue
		}
		content, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		check(r, content)
	}
	check(rows[root+"/link"], []byte("hello"))

	// FIFOs, also behind a symlink, and directories give no row.
	for _, p := range []string{"fifo", "fifolink", "sub", "dangling", "loop1"} {
		if rows := hashQuery(t, env, "path = "+fileSQLQuote(root+"/"+p)); len(rows) != 0 {
			t.Errorf("%s: %v", p, rows)
		}
	}

	// LIKE works as for the file table.
	rows = hashQuery(t, env, "path like "+fileSQLQuote(root+"/%%")+" and path like '%.txt'")
	got = got[:0]
	for p := range rows {
		got = append(got, strings.TrimPrefix(p, root+"/"))
	}
	slices.Sort(got)
	if want := []string{"a.txt", "bXc.txt", "b_c.txt", "sub/.dot/d.txt", "sub/c.txt", "sub/deeper/e.txt", "with space.txt"}; !slices.Equal(got, want) {
		t.Errorf("like: %q, want %q", got, want)
	}
	check(rows[root+"/sub/.dot/d.txt"], []byte("d"))
	rows = hashQuery(t, env, "directory like "+fileSQLQuote(root+"/%/d%"))
	if len(rows) != 1 || rows[root+"/sub/deeper/e.txt"] == nil {
		t.Errorf("directory like: %v", rows)
	}
}

// A file that opens but cannot be read (procfs answers EIO) keeps its row
// with empty digests, as osquery leaves them.
func TestHashReadError(t *testing.T) {
	env := hashEnv(t)
	rows := hashQuery(t, env, "path = '/proc/self/mem'")
	r, ok := rows["/proc/self/mem"]
	if !ok {
		t.Fatalf("no row for /proc/self/mem: %v", rows)
	}
	if r["md5"] != "" || r["sha1"] != "" || r["sha256"] != "" {
		t.Errorf("digests of an unreadable file: %v", r)
	}
}

func TestHashReadMax(t *testing.T) {
	root := fileFixture(t)
	env := hashEnv(t)
	if err := env.Flags.Set("read_max", "4"); err != nil {
		t.Fatal(err)
	}
	rows := hashQuery(t, env, "path in ("+fileSQLQuote(root+"/a.txt")+", "+fileSQLQuote(root+"/sub/c.txt")+")")
	// a.txt has 5 bytes: skipped, but its row stays.
	if r := rows[root+"/a.txt"]; r == nil || r["md5"] != "" || r["sha256"] != "" {
		t.Errorf("a.txt over read_max: %v", r)
	}
	m, _, _ := hashDigestsOf([]byte("c"))
	if r := rows[root+"/sub/c.txt"]; r == nil || r["md5"] != m {
		t.Errorf("c.txt under read_max: %v", r)
	}
	// Nothing over the limit was cached.
	if c := hashCacheFor(env); c.len() != 1 {
		t.Errorf("cache holds %d entries, want 1", c.len())
	}
}

func TestHashUsedColumns(t *testing.T) {
	root := fileFixture(t)
	env := hashEnv(t)
	a := root + "/a.txt"
	m, s1, s256 := hashDigestsOf([]byte("hello"))
	st, err := (&fileView{rootFD: -1, log: fileTestLog()}).stat(a, true)
	if err != nil {
		t.Fatal(err)
	}
	key := hashCacheKey{view: "root:/", path: a}
	cache := hashCacheFor(env)

	// Only md5 is read, so only md5 is computed.
	rows := tabletest.Query(t, env, "select md5 from hash where path = "+fileSQLQuote(a))
	if len(rows) != 1 || rows[0]["md5"] != m {
		t.Fatalf("md5 only: %v", rows)
	}
	if _, ok := cache.get(key, &st, hashMD5); !ok {
		t.Error("md5 not cached")
	}
	if _, ok := cache.get(key, &st, hashSHA256); ok {
		t.Error("sha256 computed although not used")
	}
	// A later query for sha256 adds it to the entry.
	rows = tabletest.Query(t, env, "select sha256 from hash where path = "+fileSQLQuote(a))
	if len(rows) != 1 || rows[0]["sha256"] != s256 {
		t.Fatalf("sha256: %v", rows)
	}
	if d, ok := cache.get(key, &st, hashMD5|hashSHA256); !ok || d.md5 != m || d.sha256 != s256 || d.sha1 != "" {
		t.Errorf("merged entry: %+v %v", d, ok)
	}
	// No digest column: no hashing at all, still one row per file.
	fresh := hashEnv(t)
	rows = tabletest.Query(t, fresh, "select path, directory from hash where path = "+fileSQLQuote(a))
	if len(rows) != 1 || hashCacheFor(fresh).len() != 0 {
		t.Errorf("path only: %v, cache %d", rows, hashCacheFor(fresh).len())
	}
	// Digests compare without case.
	rows = tabletest.Query(t, env, "select path from hash where path = "+fileSQLQuote(a)+" and sha1 = "+fileSQLQuote(strings.ToUpper(s1)))
	if len(rows) != 1 {
		t.Errorf("nocase sha1: %v", rows)
	}
}

func TestHashCache(t *testing.T) {
	root := fileFixture(t)
	env := hashEnv(t)
	a := root + "/a.txt"
	md5Of := func() string {
		t.Helper()
		rows := tabletest.Query(t, env, "select md5 from hash where path = "+fileSQLQuote(a))
		if len(rows) != 1 {
			t.Fatalf("rows %v", rows)
		}
		return rows[0]["md5"]
	}
	hello, _, _ := hashDigestsOf([]byte("hello"))
	if got := md5Of(); got != hello {
		t.Fatalf("md5 %s", got)
	}
	cache := hashCacheFor(env)
	if cache.len() != 1 {
		t.Fatalf("cache has %d entries", cache.len())
	}

	// Same size, mtime put back: ctime still changes, so the cache notices.
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a, []byte("jello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(a, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	jello, _, _ := hashDigestsOf([]byte("jello"))
	if got := md5Of(); got != jello {
		t.Errorf("after rewrite: %s, want %s", got, jello)
	}
	// Replaced by another file (new inode) of the same size.
	if err := os.WriteFile(a+".new", []byte("hallo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a+".new", a); err != nil {
		t.Fatal(err)
	}
	hallo, _, _ := hashDigestsOf([]byte("hallo"))
	if got := md5Of(); got != hallo {
		t.Errorf("after replace: %s, want %s", got, hallo)
	}

	// The LRU keeps at most hash_cache_max files.
	if err := env.Flags.Set("hash_cache_max", "2"); err != nil {
		t.Fatal(err)
	}
	tabletest.Query(t, env, "select md5 from hash where directory = "+fileSQLQuote(root+"/sub")+" or path like "+fileSQLQuote(root+"/%.txt"))
	if cache.len() != 2 {
		t.Errorf("cache holds %d entries, want 2", cache.len())
	}

	// disable_hash_cache: nothing is added.
	off := hashEnv(t)
	if err := off.Flags.Set("disable_hash_cache", "true"); err != nil {
		t.Fatal(err)
	}
	rows := tabletest.Query(t, off, "select md5 from hash where path = "+fileSQLQuote(a))
	if len(rows) != 1 || rows[0]["md5"] != hallo || hashCacheFor(off).len() != 0 {
		t.Errorf("cache disabled: %v, %d cached", rows, hashCacheFor(off).len())
	}
}

func TestHashDelay(t *testing.T) {
	root := fileFixture(t)
	env := hashEnv(t)
	for _, kv := range [][2]string{{"disable_hash_cache", "true"}, {"hash_delay", "30"}} {
		if err := env.Flags.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	rows := tabletest.Query(t, env, "select md5 from hash where path like "+fileSQLQuote(root+"/%.txt"))
	if len(rows) != 4 {
		t.Fatalf("rows %v", rows)
	}
	if d := time.Since(start); d < 4*30*time.Millisecond {
		t.Errorf("4 uncached hashes took %v, want at least 120ms of hash_delay", d)
	}
}

func TestHashLive(t *testing.T) {
	env := hashEnv(t)
	rows := tabletest.Query(t, env, "select path, md5, sha1, sha256 from hash where path = '/etc/passwd'")
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skip(err)
	}
	m, s1, s256 := hashDigestsOf(b)
	if len(rows) != 1 || rows[0]["md5"] != m || rows[0]["sha1"] != s1 || rows[0]["sha256"] != s256 {
		t.Errorf("/etc/passwd: %v", rows)
	}
	if _, err := tabletest.TryQuery(env, "select * from hash"); err == nil {
		t.Error("hash without path or directory should fail")
	}
}

// TestHashFileUnreadableAsNobody checks what an unprivileged agent sees: a file it
// cannot read keeps its hash row with empty digests, and a directory it
// cannot enter lists nothing and fails no query. Root reads everything, so
// as root the test re-runs itself as nobody, from a copy of the test binary
// that nobody may execute.
func TestHashFileUnreadableAsNobody(t *testing.T) {
	root := os.Getenv("GOSQUERY_TEST_UNPRIV_FIXTURE")
	if root == "" {
		root = fileFixture(t)
		if err := os.Mkdir(root+"/locked", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+"/locked/inside", []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(root+"/locked", 0); err != nil {
			t.Fatal(err)
		}
		// Unprivileged, TempDir's cleanup could not remove it otherwise.
		t.Cleanup(func() { os.Chmod(root+"/locked", 0o755) })
		if os.Geteuid() == 0 {
			fileRunAsNobody(t, root)
			return
		}
	}
	env := hashEnv(t)
	rows := hashQuery(t, env, "path in ("+fileSQLQuote(root+"/unreadable")+", "+fileSQLQuote(root+"/a.txt")+")")
	if r := rows[root+"/unreadable"]; r == nil || r["md5"] != "" || r["sha1"] != "" || r["sha256"] != "" {
		t.Errorf("unreadable file: %v", r)
	}
	if m, _, _ := hashDigestsOf([]byte("hello")); rows[root+"/a.txt"]["md5"] != m {
		t.Errorf("readable file: %v", rows[root+"/a.txt"])
	}
	for _, where := range []string{
		"directory = " + fileSQLQuote(root+"/locked"),
		"path like " + fileSQLQuote(root+"/locked/%"),
		"path = " + fileSQLQuote(root+"/locked/inside"),
	} {
		if rows := tabletest.Query(t, env, "select * from file where "+where); len(rows) != 0 {
			t.Errorf("%s: %v", where, rows)
		}
		if rows := tabletest.Query(t, env, "select * from hash where "+where); len(rows) != 0 {
			t.Errorf("hash %s: %v", where, rows)
		}
	}
	// The locked directory itself can be stat'ed, and %% walks past it.
	if rows := tabletest.Query(t, env, "select mode from file where path = "+fileSQLQuote(root+"/locked")); len(rows) != 1 || rows[0]["mode"] != "0000" {
		t.Errorf("locked: %v", rows)
	}
	rows2 := tabletest.Query(t, env, "select path from file where path like "+fileSQLQuote(root+"/%%"))
	if got := fileColumn(rows2, "path"); !slices.Contains(got, root+"/locked") || !slices.Contains(got, root+"/sub/deeper/e.txt") {
		t.Errorf("%%%% past a locked directory: %q", got)
	}
}

func fileRunAsNobody(t *testing.T, fixture string) {
	t.Helper()
	// The fixture and the binary copy must be reachable by nobody.
	for d := fixture; d != "/" && d != "." && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
		if d == filepath.Clean(os.TempDir()) {
			break
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	binDir := t.TempDir()
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(binDir), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "utility.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHashFileUnreadableAsNobody$", "-test.v")
	cmd.Env = append(os.Environ(), "GOSQUERY_TEST_UNPRIV_FIXTURE="+fixture)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestHashFileUnreadableAsNobody") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}
