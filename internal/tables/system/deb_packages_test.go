package system

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func debFixtureEnv(t *testing.T) *table.Env {
	t.Helper()
	env := tabletest.HostEnv(t)
	dir, err := filepath.Abs("testdata/deb_packages")
	if err != nil {
		t.Fatal(err)
	}
	env.Root = dir
	return env
}

func TestDebPackagesFixture(t *testing.T) {
	env := debFixtureEnv(t)
	rows := tabletest.Query(t, env, "select * from deb_packages where admindir = '/admin'")
	byKey := map[string]map[string]string{}
	var names []string
	for _, r := range rows {
		byKey[r["name"]+":"+r["arch"]] = r
		names = append(names, r["name"]+":"+r["arch"])
		if r["admindir"] != "/admin" {
			t.Errorf("%s: admindir %q", r["name"], r["admindir"])
		}
	}
	// Sorted by name then architecture; not-installed and the stanza
	// without a Package field are left out.
	want := "adduser:all base-files:amd64 journaled:amd64 libc6:amd64 libc6:i386 old-config:amd64 truncated:amd64 tzdata:all util-linux:amd64 weird-case:all"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("packages:\n got %s\nwant %s", got, want)
	}
	check := func(key, col, want string) {
		t.Helper()
		if got := byKey[key][col]; got != want {
			t.Errorf("%s.%s = %q, want %q", key, col, got, want)
		}
	}
	check("libc6:amd64", "version", "2.36-9+deb12u14")
	check("libc6:amd64", "revision", "9+deb12u14")
	check("libc6:amd64", "source", "glibc")
	check("libc6:amd64", "size", "13001")
	check("libc6:amd64", "status", "install ok installed")
	check("libc6:amd64", "priority", "optional")
	check("libc6:amd64", "section", "libs")
	check("libc6:amd64", "maintainer", "GNU Libc Maintainers <debian-glibc@lists.debian.org>")
	check("libc6:i386", "size", "12345")
	check("adduser:all", "revision", "")
	check("adduser:all", "source", "")
	// A zero epoch is not shown; config-files packages are listed.
	check("old-config:amd64", "version", "1.0-2")
	check("old-config:amd64", "revision", "2")
	check("old-config:amd64", "status", "deinstall ok config-files")
	check("old-config:amd64", "priority", "optional")
	// Case-insensitive field names, squeezed status, oversized size,
	// source with a version, bytes that are not UTF-8.
	check("weird-case:all", "version", "3:2.0~rc1")
	check("weird-case:all", "revision", "")
	check("weird-case:all", "status", "install ok half-configured")
	check("weird-case:all", "size", tabletest.Null)
	check("weird-case:all", "priority", "unknown")
	check("weird-case:all", "section", "")
	check("weird-case:all", "source", "weird (1.2-3)")
	check("weird-case:all", "maintainer", "M\xe4intainer \xff <m@example.org>")
	// The updates/ journal overrides the status file; tmp.i is ignored.
	check("journaled:amd64", "version", "1.0-2")
	check("journaled:amd64", "size", "7")
	check("journaled:amd64", "status", "install ok installed")
	check("truncated:amd64", "version", "9")
}

func TestDebPackagesAdmindirConstraint(t *testing.T) {
	env := debFixtureEnv(t)
	// The default admindir does not exist under the fixture root.
	if rows := tabletest.Query(t, env, "select * from deb_packages"); len(rows) != 0 {
		t.Errorf("default admindir under fixture root: %d rows", len(rows))
	}
	rows := tabletest.Query(t, env, "select admindir, count(*) as n from deb_packages where admindir in ('/admin', '/missing', '/admin/updates') group by admindir")
	if len(rows) != 1 || rows[0]["admindir"] != "/admin" || rows[0]["n"] != "10" {
		t.Errorf("got %v", rows)
	}
	rows = tabletest.Query(t, env, "select name from deb_packages where admindir = '/admin' and name = 'libc6' and arch = 'i386'")
	if len(rows) != 1 {
		t.Errorf("got %v", rows)
	}
	// version_dpkg collation: 2.36-9+deb12u14 sorts before 2.36-10 (text
	// order would put it after), util-linux 2.38.1 is above the range and
	// journaled 1.0-2 below it.
	rows = tabletest.Query(t, env, "select name from deb_packages where admindir = '/admin' and version < '2.36-10' collate version_dpkg and version > '2.0' collate version_dpkg order by name")
	var got []string
	for _, r := range rows {
		got = append(got, r["name"])
	}
	if strings.Join(got, " ") != "libc6 libc6" {
		t.Errorf("version_dpkg range: %v", got)
	}
}

func TestDebDescribeVersion(t *testing.T) {
	for _, c := range []struct{ in, version, revision string }{
		{"1.0", "1.0", ""},
		{"1.0-1", "1.0-1", "1"},
		{"0:1.0-1", "1.0-1", "1"},
		{"00:1.0", "1.0", ""},
		{"01:1.0", "1:1.0", ""},
		{"1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u3", "5+deb12u3"},
		{"0:1:2-3", "0:1:2-3", "3"},
		{"a:1.0-2", "a:1.0-2", "2"},
		{"1.0-2-3", "1.0-2-3", "3"},
		{" 2.0 ", "2.0", ""},
		{"", "", ""},
		{"99999999999:1", "99999999999:1", ""},
	} {
		v, r := debDescribeVersion(c.in)
		if v != c.version || r != c.revision {
			t.Errorf("%q -> %q, %q; want %q, %q", c.in, v, r, c.version, c.revision)
		}
	}
}

func TestParseDebStatusHostile(t *testing.T) {
	var got []string
	in := "Package: a\nVersion: 1\n\n\n\n \t \nPackage: b\n continuation: not a field\nno colon\n#comment: x\nVersion:\n\nPackage: " + strings.Repeat("x", 2<<20) + "\n"
	err := parseDebStatus(strings.NewReader(in), func(p *debPackage) { got = append(got, p.Package+"="+p.Version) })
	if err == nil {
		t.Error("no error for a 2 MiB line")
	}
	if strings.Join(got, " ") != "a=1 b=" {
		t.Errorf("got %q", got)
	}
}

// TestDebPackagesLive compares the table with dpkg-query's own view of the
// database, when dpkg is installed.
func TestDebPackagesLive(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("not a dpkg system")
	}
	dq, err := exec.LookPath("dpkg-query")
	if err != nil {
		t.Skip("no dpkg-query")
	}
	out, err := exec.Command(dq, "-W", "-f", "${Package}\t${Architecture}\t${Version}\t${Installed-Size}\t${Status}\t${Section}\t${Source}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 7 || strings.HasSuffix(f[4], "not-installed") {
			continue
		}
		want[f[0]+":"+f[1]] = strings.Join(f[2:], "|")
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from deb_packages")
	if len(rows) != len(want) {
		t.Errorf("%d rows, dpkg-query lists %d packages", len(rows), len(want))
	}
	for _, r := range rows {
		got := strings.Join([]string{r["version"], r["size"], r["status"], r["section"], r["source"]}, "|")
		if w, ok := want[r["name"]+":"+r["arch"]]; !ok || w != got {
			t.Errorf("%s:%s: table %q, dpkg-query %q", r["name"], r["arch"], got, w)
		}
		if r["admindir"] != "/var/lib/dpkg" || r["priority"] == "" {
			t.Errorf("%s: admindir %q priority %q", r["name"], r["admindir"], r["priority"])
		}
	}
}

func TestDebPackagesNamespace(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("not a dpkg system")
	}
	pid := strconv.Itoa(os.Getpid())
	env := tabletest.HostEnv(t)
	rows := tabletest.Query(t, env, "select name, pid_with_namespace, mount_namespace_id from deb_packages where pid_with_namespace = "+pid)
	all := tabletest.Query(t, env, "select name from deb_packages")
	if len(rows) != len(all) || len(rows) == 0 {
		t.Fatalf("%d rows in our own namespace, %d without", len(rows), len(all))
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	if rows[0]["pid_with_namespace"] != pid || rows[0]["mount_namespace_id"] != strconv.FormatUint(st.Ino, 10) {
		t.Errorf("row %v", rows[0])
	}
	// Without the constraint the hidden columns hold osquery's defaults.
	rows = tabletest.Query(t, env, "select pid_with_namespace, mount_namespace_id from deb_packages limit 1")
	if rows[0]["pid_with_namespace"] != "0" || rows[0]["mount_namespace_id"] != "" {
		t.Errorf("defaults %v", rows[0])
	}
}

func FuzzParseDebStatus(f *testing.F) {
	if b, err := os.ReadFile("testdata/deb_packages/admin/status"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 0:1-2\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parseDebStatus(bytes.NewReader(b), func(p *debPackage) {
			r := p.row()
			if r.Size.Valid && strings.TrimSpace(p.InstalledSize) == "" {
				t.Fatalf("size from nothing: %+v", p)
			}
			_, _ = debDescribeVersion(p.Version)
		})
	})
}
