package system

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// osVersionFixture builds a root with the given files (path -> testdata
// file name) and returns an env over it.
func osVersionFixture(t *testing.T, files map[string]string) *table.Env {
	t.Helper()
	root := t.TempDir()
	for dst, src := range files {
		b, err := os.ReadFile(filepath.Join("testdata/os_version", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := tabletest.HostEnv(t)
	env.Root = root
	return env
}

func osVersionQuery(t *testing.T, env *table.Env) map[string]string {
	t.Helper()
	rows := tabletest.Query(t, env, "select * from os_version")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	return rows[0]
}

func osVersionExpect(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestOSVersionDistributions(t *testing.T) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	arch := unix.ByteSliceToString(uts.Machine[:])
	for _, c := range []struct {
		name  string
		files map[string]string
		want  map[string]string
	}{
		{"debian12", map[string]string{"etc/os-release": "debian12"}, map[string]string{
			"name": "Debian GNU/Linux", "version": "12 (bookworm)", "major": "12", "minor": "0", "patch": "0",
			"build": "", "platform": "debian", "platform_like": "debian", "codename": "bookworm", "arch": arch,
		}},
		{"ubuntu", map[string]string{"etc/os-release": "ubuntu2204"}, map[string]string{
			"name": "Ubuntu", "version": "22.04.4 LTS (Jammy Jellyfish)", "major": "22", "minor": "4", "patch": "0",
			"platform": "ubuntu", "platform_like": "debian", "codename": "jammy",
		}},
		{"arch", map[string]string{"etc/os-release": "arch"}, map[string]string{
			"name": "Arch Linux", "version": "", "major": "0", "minor": "0", "patch": "0", "build": "rolling",
			"platform": "arch", "platform_like": "arch", "codename": "",
		}},
		{"centos7", map[string]string{"etc/os-release": "centos7", "etc/redhat-release": "centos7-redhat-release"}, map[string]string{
			"name": "CentOS Linux", "version": "CentOS Linux release 7.9.2009 (Core)", "major": "7", "minor": "9", "patch": "2009",
			"build": "", "platform": "rhel", "platform_like": "rhel",
		}},
		{"hostile", map[string]string{"etc/os-release": "hostile"}, map[string]string{
			"name": `Spaced "Quoted" Name`, "version": "unterminated", "major": "1", "minor": "2", "patch": tabletest.Null,
			"build": "single", "platform": "posix", "platform_like": "a b", "codename": "second",
		}},
		{"none", nil, map[string]string{
			"name": "Unknown", "version": "", "major": "0", "minor": "0", "patch": "0", "platform": "posix", "platform_like": "",
		}},
		{"gentoo", map[string]string{"etc/gentoo-release": "centos7-redhat-release"}, map[string]string{
			"platform": "gentoo", "platform_like": "gentoo", "name": "CentOS Linux", "major": "7",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			osVersionExpect(t, osVersionQuery(t, osVersionFixture(t, c.files)), c.want)
		})
	}
}

func TestOSVersionSymlinkInRoot(t *testing.T) {
	// Debian's /etc/os-release is a link to ../usr/lib/os-release; an
	// absolute link must also stay inside the root.
	env := osVersionFixture(t, map[string]string{"usr/lib/os-release": "ubuntu2204"})
	if err := os.MkdirAll(filepath.Join(env.Root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/os-release", filepath.Join(env.Root, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	osVersionExpect(t, osVersionQuery(t, env), map[string]string{"platform": "ubuntu"})
}

func TestOSVersionLive(t *testing.T) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			want[k] = strings.Trim(v, `"`)
		}
	}
	got := osVersionQuery(t, tabletest.HostEnv(t))
	if got["name"] != want["NAME"] || got["platform"] != want["ID"] || got["codename"] != want["VERSION_CODENAME"] {
		t.Errorf("row %v, os-release %v", got, want)
	}
	if major, _, _ := strings.Cut(want["VERSION_ID"], "."); major != "" && got["major"] != major {
		t.Errorf("major %s, VERSION_ID %s", got["major"], want["VERSION_ID"])
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	if got["arch"] != unix.ByteSliceToString(uts.Machine[:]) {
		t.Errorf("arch %q", got["arch"])
	}
}

func TestOSVersionNamespace(t *testing.T) {
	env := tabletest.HostEnv(t)
	pid := strconv.Itoa(os.Getpid())
	rows := tabletest.Query(t, env, "select *, pid_with_namespace, mount_namespace_id from os_version where pid_with_namespace in ("+pid+", 999999999, -1)")
	if len(rows) != 1 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	if rows[0]["pid_with_namespace"] != pid || rows[0]["mount_namespace_id"] != strconv.FormatUint(st.Ino, 10) {
		t.Errorf("row %v", rows[0])
	}
	plain := osVersionQuery(t, env)
	for _, col := range []string{"name", "version", "major", "platform", "arch"} {
		if plain[col] != rows[0][col] {
			t.Errorf("%s: %q in our namespace, %q without", col, rows[0][col], plain[col])
		}
	}
	// SELECT * leaves the hidden columns out; they default to 0 and "".
	if _, ok := plain["pid_with_namespace"]; ok {
		t.Error("hidden column in SELECT *")
	}
	rows = tabletest.Query(t, env, "select pid_with_namespace, mount_namespace_id from os_version")
	if rows[0]["pid_with_namespace"] != "0" || rows[0]["mount_namespace_id"] != "" {
		t.Errorf("defaults %v", rows[0])
	}
}

func FuzzOSVersionRelease(f *testing.F) {
	for _, n := range []string{"debian12", "ubuntu2204", "hostile", "centos7-redhat-release"} {
		if b, err := os.ReadFile(filepath.Join("testdata/os_version", n)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r osVersionRow
		osVersionApplyOSRelease(&r, b)
		osVersionApplyLegacyRelease(&r, b, "rhel")
		if r.Platform != "rhel" {
			t.Fatal("platform not set")
		}
	})
}
