package utility

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/tabletest"
)

// fileSQLQuote renders s as an SQL string literal.
func fileSQLQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func fileColumn(rows []map[string]string, col string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[col])
	}
	slices.Sort(out)
	return out
}

// fileStatxOf reads the values the file table should report, independently of
// the table's code.
func fileStatxOf(t *testing.T, p string, follow bool) unix.Statx_t {
	t.Helper()
	flags := 0
	if !follow {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	var x unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, flags, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestFileStatColumns(t *testing.T) {
	root := fileFixture(t)
	env := tabletest.HostEnv(t)
	one := func(p string) map[string]string {
		t.Helper()
		rows := tabletest.Query(t, env, "select *, pid_with_namespace, mount_namespace_id from file where path = "+fileSQLQuote(p))
		if len(rows) != 1 {
			t.Fatalf("%q: %d rows", p, len(rows))
		}
		return rows[0]
	}

	a := root + "/a.txt"
	r := one(a)
	x := fileStatxOf(t, a, true)
	want := map[string]string{
		"path":                a,
		"directory":           root,
		"filename":            "a.txt",
		"inode":               strconv.FormatUint(x.Ino, 10),
		"uid":                 strconv.Itoa(int(x.Uid)),
		"gid":                 strconv.Itoa(int(x.Gid)),
		"mode":                "0644",
		"device":              "0",
		"size":                "5",
		"block_size":          strconv.Itoa(int(x.Blksize)),
		"atime":               strconv.FormatInt(x.Atime.Sec, 10),
		"mtime":               strconv.FormatInt(x.Mtime.Sec, 10),
		"ctime":               strconv.FormatInt(x.Ctime.Sec, 10),
		"btime":               "0",
		"hard_links":          "1",
		"symlink":             "0",
		"type":                "regular",
		"symlink_target_path": "",
		"pid_with_namespace":  "0",
		"mount_namespace_id":  "",
	}
	if x.Mask&unix.STATX_BTIME != 0 {
		want["btime"] = strconv.FormatInt(x.Btime.Sec, 10)
	}
	for k, w := range want {
		if r[k] != w {
			t.Errorf("a.txt %s = %q, want %q", k, r[k], w)
		}
	}

	if r := one(root + "/setuid"); r["mode"] != "4755" {
		t.Errorf("setuid mode %q", r["mode"])
	}
	if r := one(root + "/unreadable"); r["mode"] != "0000" || r["size"] != "6" {
		t.Errorf("unreadable: %v", r)
	}

	// A symlink reports its target's facts, and says it is a link.
	r = one(root + "/link")
	if r["symlink"] != "1" || r["type"] != "regular" || r["symlink_target_path"] != "a.txt" ||
		r["inode"] != strconv.FormatUint(x.Ino, 10) || r["filename"] != "link" {
		t.Errorf("link: %v", r)
	}
	// Links whose target cannot be reached report the link itself.
	for name, target := range map[string]string{"dangling": "nowhere", "loop1": "loop2", "abslink": "/a.txt"} {
		r = one(root + "/" + name)
		lx := fileStatxOf(t, root+"/"+name, false)
		if r["symlink"] != "1" || r["type"] != "symlink" || r["symlink_target_path"] != target ||
			r["inode"] != strconv.FormatUint(lx.Ino, 10) || r["mode"] != "0777" {
			t.Errorf("%s: %v", name, r)
		}
	}

	if r := one(root + "/fifo"); r["type"] != "fifo" || r["size"] != "0" {
		t.Errorf("fifo: %v", r)
	}
	if r := one(root + "/fifolink"); r["type"] != "fifo" || r["symlink"] != "1" {
		t.Errorf("fifolink: %v", r)
	}
	if r := one(root + "/sub"); r["type"] != "directory" || r["filename"] != "sub" || r["directory"] != root {
		t.Errorf("sub: %v", r)
	}
	// A trailing slash is kept in path; filename and directory ignore it.
	if r := one(root + "/sub/"); r["path"] != root+"/sub/" || r["filename"] != "sub" || r["directory"] != root {
		t.Errorf("sub/: %v", r)
	}
	// device is st_rdev, as osquery reports it.
	if r := one("/dev/null"); r["type"] != "character" || r["device"] != strconv.FormatUint(unix.Mkdev(1, 3), 10) {
		t.Errorf("/dev/null: %v", r)
	}
	if r := one("/"); r["type"] != "directory" || r["filename"] != "/" || r["directory"] != "" {
		t.Errorf("/: %v", r)
	}
	// Awkward names survive the round trip through SQL.
	for _, n := range []string{"new\nline", "bad\xffname", "with space.txt", "100%done", "b_c.txt", "brack[1]"} {
		if r := one(root + "/" + n); r["filename"] != n || r["type"] != "regular" {
			t.Errorf("%q: %v", n, r)
		}
	}

	if rows := tabletest.Query(t, env, "select * from file where path = "+fileSQLQuote(root+"/missing")); len(rows) != 0 {
		t.Errorf("missing file: %v", rows)
	}
}

func TestFileRequiresPathOrDirectory(t *testing.T) {
	env := tabletest.HostEnv(t)
	if _, err := tabletest.TryQuery(env, "select * from file"); err == nil {
		t.Error("file without path or directory should fail")
	}
	if _, err := tabletest.TryQuery(env, "select * from file where filename = 'passwd'"); err == nil {
		t.Error("file with only filename should fail")
	}
}

func TestFileConstraints(t *testing.T) {
	root := fileFixture(t)
	env := tabletest.HostEnv(t)
	q := func(where string) []map[string]string {
		t.Helper()
		return tabletest.Query(t, env, "select path, directory, filename, type from file where "+where)
	}
	prefixed := func(prefix string, names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = prefix + n
		}
		slices.Sort(out)
		return out
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range entries {
		all = append(all, e.Name())
	}

	// directory = lists every entry, hidden ones included.
	rows := q("directory = " + fileSQLQuote(root))
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", all...)) {
		t.Errorf("directory =:\n got %q\nwant %q", got, prefixed(root+"/", all...))
	}
	for _, r := range rows {
		if r["directory"] != root || r["path"] != root+"/"+r["filename"] {
			t.Errorf("directory row %v", r)
		}
	}
	// The directory text is kept as given, so SQLite's re-check passes.
	rows = q("directory = " + fileSQLQuote(root+"/"))
	if len(rows) != len(all) || rows[0]["directory"] != root+"/" || !strings.HasPrefix(rows[0]["path"], root+"/") ||
		strings.HasPrefix(rows[0]["path"], root+"//") {
		t.Errorf("directory with slash: %d rows, first %v", len(rows), rows[0])
	}
	// A FIFO or a file named as a directory lists nothing and does not block.
	if rows := q("directory = " + fileSQLQuote(root+"/fifo")); len(rows) != 0 {
		t.Errorf("fifo as directory: %v", rows)
	}
	if rows := q("directory = " + fileSQLQuote(root+"/a.txt")); len(rows) != 0 {
		t.Errorf("file as directory: %v", rows)
	}

	rows = q("path in (" + fileSQLQuote(root+"/a.txt") + ", " + fileSQLQuote(root+"/sub/c.txt") + ", " + fileSQLQuote(root+"/nope") + ")")
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", "a.txt", "sub/c.txt")) {
		t.Errorf("path in: %q", got)
	}

	// LIKE expands as a glob; SQLite re-checks the rows.
	rows = q("path like " + fileSQLQuote(root+"/%.txt"))
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", "a.txt", "b_c.txt", "bXc.txt", "with space.txt")) {
		t.Errorf("path like %%.txt: %q", got)
	}
	// '_' is literal in the expansion (osquery's behaviour), so bXc.txt is
	// not found even though SQL's LIKE would accept it.
	rows = q("path like " + fileSQLQuote(root+"/b_c%"))
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", "b_c.txt")) {
		t.Errorf("path like b_c%%: %q", got)
	}
	rows = q("path like " + fileSQLQuote(root+"/100%"))
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", "100%done")) {
		t.Errorf("path like 100%%: %q", got)
	}
	rows = q("path like " + fileSQLQuote(root+"/%"))
	if len(rows) != len(all)-1 || slices.Contains(fileColumn(rows, "filename"), ".hidden") {
		t.Errorf("path like %%: %d rows (want %d, no .hidden): %q", len(rows), len(all)-1, fileColumn(rows, "filename"))
	}
	for _, r := range rows {
		if r["filename"] == "sub" && (r["path"] != root+"/sub" || r["type"] != "directory") {
			t.Errorf("directory from LIKE: %v", r)
		}
	}
	rows = q("path like " + fileSQLQuote(root+"/%%") + " and type = 'regular'")
	got := fileColumn(rows, "path")
	for _, w := range []string{"a.txt", "sub/c.txt", "sub/.dot/d.txt", "sub/deeper/e.txt", "new\nline", "bad\xffname", "link"} {
		if !slices.Contains(got, root+"/"+w) {
			t.Errorf("path like %%%%: missing %q in %q", w, got)
		}
	}
	// The symlink loop back to the root is listed but not walked again.
	if slices.Contains(got, root+"/sub/up/a.txt") {
		t.Errorf("path like %%%% walked sub/up back into the root")
	}
	// Two patterns: their union, each path once.
	rows = q("(path like " + fileSQLQuote(root+"/%.txt") + " or path like " + fileSQLQuote(root+"/a%") + ")")
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/", "a.txt", "abslink", "b_c.txt", "bXc.txt", "with space.txt")) {
		t.Errorf("two patterns: %q", got)
	}

	// directory LIKE lists the entries of every directory it expands to.
	rows = q("directory like " + fileSQLQuote(root+"/%"))
	want := prefixed(root+"/sub/", ".dot", "c.txt", "deeper", "up")
	if got := fileColumn(rows, "path"); !slices.Equal(got, want) {
		t.Errorf("directory like: got %q want %q", got, want)
	}
	for _, r := range rows {
		if r["directory"] != root+"/sub" {
			t.Errorf("directory like row %v", r)
		}
	}
	rows = q("directory like " + fileSQLQuote(root+"/s%/d%"))
	if got := fileColumn(rows, "path"); !slices.Equal(got, prefixed(root+"/sub/deeper/", "e.txt")) {
		t.Errorf("directory like nested: %q", got)
	}

	// path = wins over the other constraints; SQLite applies them.
	rows = q("path = " + fileSQLQuote(root+"/a.txt") + " and directory = " + fileSQLQuote(root+"/sub"))
	if len(rows) != 0 {
		t.Errorf("path and other directory: %v", rows)
	}
	rows = q("path like " + fileSQLQuote(root+"/%") + " and directory = " + fileSQLQuote(root) + " and filename = '.hidden'")
	if len(rows) != 1 {
		t.Errorf("directory listing should serve path like + directory =: %v", rows)
	}

	// LIMIT stops the walk early without error.
	rows = q("path like " + fileSQLQuote(root+"/%%") + " limit 2")
	if len(rows) != 2 {
		t.Errorf("limit: %d rows", len(rows))
	}
}

func TestFileUnderRoot(t *testing.T) {
	root := fileFixture(t)
	env := tabletest.HostEnv(t)
	env.Root = root
	rows := tabletest.Query(t, env, "select path, directory, symlink, type, inode, symlink_target_path from file where path = '/abslink'")
	a := fileStatxOf(t, root+"/a.txt", true)
	if len(rows) != 1 || rows[0]["type"] != "regular" || rows[0]["symlink"] != "1" ||
		rows[0]["inode"] != strconv.FormatUint(a.Ino, 10) || rows[0]["directory"] != "/" || rows[0]["symlink_target_path"] != "/a.txt" {
		t.Errorf("absolute symlink under root: %v", rows)
	}
	rows = tabletest.Query(t, env, "select path from file where path like '/sub/%'")
	if got := fileColumn(rows, "path"); !slices.Equal(got, []string{"/sub/c.txt", "/sub/deeper", "/sub/up"}) {
		t.Errorf("like under root: %q", got)
	}
	rows = tabletest.Query(t, env, "select path from file where directory = '/sub/up/sub/up/sub'")
	if got := fileColumn(rows, "path"); len(got) != 4 || got[0] != "/sub/up/sub/up/sub/.dot" {
		t.Errorf("directory through .. under root: %q", got)
	}
}

func TestFileInNamespace(t *testing.T) {
	root := fileFixture(t)
	env := tabletest.HostEnv(t)
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getpid()))
	if err != nil {
		t.Skip("no mount namespace link:", err)
	}
	ns, _ := parseFileMountNamespace(link)
	pid := strconv.Itoa(os.Getpid())
	rows := tabletest.Query(t, env, "select path, type, pid_with_namespace, mount_namespace_id from file where path = "+
		fileSQLQuote(root+"/a.txt")+" and pid_with_namespace = "+pid)
	if len(rows) != 1 || rows[0]["type"] != "regular" || rows[0]["pid_with_namespace"] != pid || rows[0]["mount_namespace_id"] != ns {
		t.Errorf("own namespace: %v (ns %s)", rows, ns)
	}
	rows = tabletest.Query(t, env, "select path from file where path like "+fileSQLQuote(root+"/sub/%")+
		" and pid_with_namespace in ("+pid+", 999999999)")
	if got := fileColumn(rows, "path"); !slices.Equal(got, []string{root + "/sub/c.txt", root + "/sub/deeper", root + "/sub/up"}) {
		t.Errorf("namespace like: %q", got)
	}
	// A pid that does not exist has no namespace to look in.
	rows = tabletest.Query(t, env, "select path from file where path = "+fileSQLQuote(root+"/a.txt")+" and pid_with_namespace = 999999999")
	if len(rows) != 0 {
		t.Errorf("missing pid: %v", rows)
	}
}

func TestFileLive(t *testing.T) {
	env := tabletest.HostEnv(t)
	rows := tabletest.Query(t, env, "select path, inode, size, mode, uid from file where directory = '/etc' and type = 'regular'")
	if len(rows) == 0 {
		t.Fatal("no regular files in /etc")
	}
	for _, r := range rows {
		x := fileStatxOf(t, r["path"], true)
		if r["inode"] != strconv.FormatUint(x.Ino, 10) || r["size"] != strconv.FormatUint(x.Size, 10) ||
			r["mode"] != fmt.Sprintf("%04o", x.Mode&07777) || r["uid"] != strconv.Itoa(int(x.Uid)) {
			t.Errorf("%s: table %v, statx ino %d size %d mode %o", r["path"], r, x.Ino, x.Size, x.Mode)
		}
	}
	// The example from osquery's spec.
	rows = tabletest.Query(t, env, "select filename from file where path like '/etc/%' and filename = 'passwd'")
	if len(rows) != 1 {
		t.Errorf("path like '/etc/%%': %v", rows)
	}
}
