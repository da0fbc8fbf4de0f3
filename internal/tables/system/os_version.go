package system

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var osVersionSpec = table.Spec{
	Name:        "os_version",
	Description: "A single row containing the operating system name and version.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("version").Collation("version"),
		table.Integer("major"),
		table.Integer("minor"),
		table.Integer("patch"),
		table.Text("build"),
		table.Text("platform"),
		table.Text("platform_like"),
		table.Text("codename"),
		table.Text("arch"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
		table.Text("mount_namespace_id").Hidden(),
	},
}

type osVersionRow struct {
	Name             string        `col:"name"`
	Version          string        `col:"version"`
	Major            table.NullInt `col:"major"`
	Minor            table.NullInt `col:"minor"`
	Patch            table.NullInt `col:"patch"`
	Build            string        `col:"build"`
	Platform         string        `col:"platform"`
	PlatformLike     string        `col:"platform_like"`
	Codename         string        `col:"codename"`
	Arch             string        `col:"arch"`
	PidWithNamespace int64         `col:"pid_with_namespace"`
	MountNamespaceID string        `col:"mount_namespace_id"`
}

func init() { table.Register(osVersionSpec, generateOSVersion) }

// osVersionMaxFile caps the release files read; real ones are a few
// hundred bytes.
const osVersionMaxFile = 64 << 10

// generateOSVersion describes the distribution from /etc/os-release, then
// lets /etc/redhat-release or /etc/gentoo-release override it as osquery
// does. `pid_with_namespace = N` reads the files as process N sees them
// (its root and mount namespace), one row per pid; the rows then carry the
// pid and the mount namespace inode.
func generateOSVersion(ctx context.Context, q *table.Query, emit func(osVersionRow)) error {
	var uts unix.Utsname
	arch := ""
	if err := unix.Uname(&uts); err == nil {
		arch = unix.ByteSliceToString(uts.Machine[:])
	}
	pids := q.EqualsInt("pid_with_namespace")
	if len(pids) == 0 {
		r := osVersionRead(q.Env.Root)
		r.Arch = arch
		emit(r)
		return nil
	}
	fs := procfs.New(q.Env.ProcRoot)
	for _, pid := range pids {
		if pid <= 0 || pid > 1<<22 {
			continue
		}
		ns, err := fs.MountNamespace(int(pid))
		if err != nil {
			q.Env.Log.Debug("os_version: no mount namespace", "pid", pid, "err", err)
			continue
		}
		root := fs.PIDPath(int(pid), "root")
		if _, err := os.Stat(root + "/"); err != nil {
			// Like osquery failing to enter the namespace: no row, rather
			// than osquery's defaults for a root that cannot be read.
			q.Env.Log.Debug("os_version: cannot read the process root", "pid", pid, "err", err)
			continue
		}
		r := osVersionRead(root)
		r.Arch = arch
		r.PidWithNamespace = pid
		r.MountNamespaceID = ns
		emit(r)
	}
	return nil
}

// osVersionRead builds the row from the release files under root, with
// osquery's defaults for whatever they do not say.
func osVersionRead(root string) osVersionRow {
	r := osVersionRow{
		Name:     "Unknown",
		Major:    table.Int(0),
		Minor:    table.Int(0),
		Patch:    table.Int(0),
		Platform: "posix",
	}
	if b, err := procfs.ReadFileInRoot(root, "/etc/os-release", osVersionMaxFile); err == nil {
		osVersionApplyOSRelease(&r, b)
	}
	if r.PlatformLike == "" && r.Platform != "posix" {
		// Distributions at the root of a family (Debian, Fedora, Arch)
		// set no ID_LIKE, and osquery then leaves platform_like empty.
		// Such a distribution is like itself; reporting its ID keeps
		// `platform_like LIKE '%debian%'` true on Debian and the column
		// non-empty, as osquery's own test expects.
		r.PlatformLike = r.Platform
	}
	if b, err := procfs.ReadFileInRoot(root, "/etc/redhat-release", osVersionMaxFile); err == nil {
		osVersionApplyLegacyRelease(&r, b, "rhel")
	} else if b, err := procfs.ReadFileInRoot(root, "/etc/gentoo-release", osVersionMaxFile); err == nil {
		osVersionApplyLegacyRelease(&r, b, "gentoo")
	}
	return r
}

// osVersionApplyOSRelease applies os-release(5) assignments: NAME, VERSION,
// BUILD_ID, ID, ID_LIKE, VERSION_CODENAME (or any other key containing
// CODENAME, such as UBUNTU_CODENAME; the last one wins) and VERSION_ID,
// which is split on dots into major, minor and patch. A part that is not a
// number makes its column NULL ("rolling").
func osVersionApplyOSRelease(r *osVersionRow, b []byte) {
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" || val == "" || strings.HasPrefix(key, "#") {
			continue
		}
		val = osVersionUnquote(val)
		switch {
		case key == "NAME":
			r.Name = val
		case key == "VERSION":
			r.Version = val
		case key == "BUILD_ID":
			r.Build = val
		case key == "ID":
			r.Platform = val
		case key == "ID_LIKE":
			r.PlatformLike = val
		case key == "VERSION_ID":
			// Empty parts are dropped and anything past the third dot
			// stays in patch, as osquery's split does.
			parts := strings.FieldsFunc(val, func(c rune) bool { return c == '.' })
			if len(parts) > 3 {
				parts = append(parts[:2], strings.Join(parts[2:], "."))
			}
			dst := []*table.NullInt{&r.Major, &r.Minor, &r.Patch}
			for i, p := range parts {
				n, err := strconv.ParseInt(p, 10, 32)
				*dst[i] = table.NullInt{Int: n, Valid: err == nil}
			}
		case strings.Contains(key, "CODENAME"):
			r.Codename = val
		}
	}
}

// osVersionUnquote removes shell-style quotes from an os-release value,
// undoing the backslash escapes allowed inside double quotes.
func osVersionUnquote(v string) string {
	if len(v) == 0 {
		return v
	}
	switch q := v[0]; q {
	case '\'':
		v = strings.TrimPrefix(v, "'")
		return strings.TrimSuffix(v, "'")
	case '"':
		v = strings.TrimSuffix(v[1:], `"`)
		if !strings.Contains(v, `\`) {
			return v
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

// osVersionLegacyRE is osquery's pattern for "CentOS Linux release
// 7.9.2009 (Core)": name, then major.minor and an optional .patch.
var osVersionLegacyRE = regexp.MustCompile(`([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?`)

// osVersionApplyLegacyRelease handles /etc/redhat-release and
// /etc/gentoo-release the way osquery does: their presence sets platform
// and platform_like, version becomes the file's text (whitespace runs
// collapsed), build is cleared, and the first line matching
// osVersionLegacyRE gives name, major, minor and patch.
func osVersionApplyLegacyRelease(r *osVersionRow, b []byte, platform string) {
	r.Platform, r.PlatformLike = platform, platform
	content := osVersionCollapseSpace(string(b))
	for _, line := range strings.Split(content, "\n") {
		m := osVersionLegacyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r.Name = m[1]
		r.Major = osVersionInt(m[2])
		r.Minor = osVersionInt(m[3])
		r.Patch = table.Int(0)
		if m[4] != "" {
			r.Patch = osVersionInt(m[4])
		}
		break
	}
	r.Version = content
	r.Build = ""
}

func osVersionInt(s string) table.NullInt {
	n, err := strconv.ParseInt(s, 10, 32)
	return table.NullInt{Int: n, Valid: err == nil}
}

// osVersionCollapseSpace trims s and replaces each inner run of white
// space with its first character (boost::trim_all).
func osVersionCollapseSpace(s string) string {
	s = strings.TrimSpace(s)
	var b bytes.Buffer
	prevSpace := false
	for _, c := range s {
		space := unicode.IsSpace(c)
		if !space || !prevSpace {
			b.WriteRune(c)
		}
		prevSpace = space
	}
	return b.String()
}
