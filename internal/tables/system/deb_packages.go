package system

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var debPackagesSpec = table.Spec{
	Name:        "deb_packages",
	Description: "The installed DEB package database.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("version").Collation("version_dpkg"),
		table.Text("source"),
		table.BigInt("size"),
		table.Text("arch"),
		table.Text("revision"),
		table.Text("status"),
		table.Text("maintainer"),
		table.Text("section"),
		table.Text("priority"),
		table.Text("admindir").Additional().Optimized(),
		table.Integer("pid_with_namespace").Additional().Hidden(),
		table.Text("mount_namespace_id").Hidden(),
	},
	Attributes: table.Cacheable,
}

type debPackageRow struct {
	Name             string        `col:"name"`
	Version          string        `col:"version"`
	Source           string        `col:"source"`
	Size             table.NullInt `col:"size"`
	Arch             string        `col:"arch"`
	Revision         string        `col:"revision"`
	Status           string        `col:"status"`
	Maintainer       string        `col:"maintainer"`
	Section          string        `col:"section"`
	Priority         string        `col:"priority"`
	Admindir         string        `col:"admindir"`
	PidWithNamespace int64         `col:"pid_with_namespace"`
	MountNamespaceID string        `col:"mount_namespace_id"`
}

func init() { table.Register(debPackagesSpec, generateDebPackages) }

const (
	// debDefaultAdmindir is dpkg's database directory.
	debDefaultAdmindir = "/var/lib/dpkg"
	// debMaxStatus caps the status file; a desktop with 5000 packages has
	// about 10 MB.
	debMaxStatus = 256 << 20
	// debMaxUpdates bounds the journal files applied from updates/.
	debMaxUpdates = 10000
)

// generateDebPackages lists the packages dpkg knows as present (every
// status except not-installed, so config-files and half-installed are
// included), like osquery, which asks libdpkg. The database is the status
// file plus the journal in updates/ that dpkg leaves when interrupted.
// `admindir = ?` reads other databases (chroots, images); `pid_with_namespace
// = N` reads the database as process N sees it.
func generateDebPackages(ctx context.Context, q *table.Query, emit func(debPackageRow)) error {
	admindirs := q.Equals("admindir")
	if len(admindirs) == 0 {
		admindirs = []string{debDefaultAdmindir}
	}
	type source struct {
		root string
		pid  int64
		ns   string
	}
	sources := []source{{root: q.Env.Root}}
	if pids := q.EqualsInt("pid_with_namespace"); len(pids) > 0 {
		fs := procfs.New(q.Env.ProcRoot)
		sources = sources[:0]
		for _, pid := range pids {
			if pid <= 0 || pid > 1<<22 {
				continue
			}
			ns, err := fs.MountNamespace(int(pid))
			if err != nil {
				q.Env.Log.Debug("deb_packages: no mount namespace", "pid", pid, "err", err)
				continue
			}
			sources = append(sources, source{root: fs.PIDPath(int(pid), "root"), pid: pid, ns: ns})
		}
	}
	for _, src := range sources {
		for _, admindir := range admindirs {
			if ctx.Err() != nil {
				return nil
			}
			pkgs, err := debReadDatabase(src.root, admindir)
			if err != nil {
				// osquery logs and goes on with the next admindir.
				q.Env.Log.Debug("deb_packages: cannot read the dpkg database", "admindir", admindir, "err", err)
				continue
			}
			for _, p := range pkgs {
				if p.statusWord() == "not-installed" || p.Status == "" {
					continue
				}
				r := p.row()
				r.Admindir = admindir
				r.PidWithNamespace = src.pid
				r.MountNamespaceID = src.ns
				emit(r)
			}
		}
	}
	return nil
}

// debPackage is one stanza of the dpkg status file, with the fields the
// table reports.
type debPackage struct {
	Package, Version, Architecture, Status               string
	Priority, Section, InstalledSize, Source, Maintainer string
}

func (p *debPackage) statusWord() string {
	f := strings.Fields(p.Status)
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

// row renders the package as osquery's libdpkg calls do: version without
// a zero epoch and revision after the last hyphen (versiondescribe),
// status as the "want eflag status" triple, size as Installed-Size (KiB,
// NULL when missing) and a missing priority as "unknown".
func (p *debPackage) row() debPackageRow {
	version, revision := debDescribeVersion(p.Version)
	r := debPackageRow{
		Name:       p.Package,
		Version:    version,
		Revision:   revision,
		Source:     p.Source,
		Arch:       p.Architecture,
		Status:     strings.Join(strings.Fields(p.Status), " "),
		Maintainer: p.Maintainer,
		Section:    p.Section,
		Priority:   debPriorityName(p.Priority),
	}
	if n, err := strconv.ParseInt(p.InstalledSize, 10, 64); err == nil {
		r.Size = table.Int(n)
	}
	return r
}

// debPriorityName is libdpkg's pkg_priority_name: the known priorities in
// lower case, anything else as written, "unknown" when there is none.
func debPriorityName(p string) string {
	if p == "" {
		return "unknown"
	}
	for _, known := range []string{"required", "important", "standard", "optional", "extra"} {
		if strings.EqualFold(p, known) {
			return known
		}
	}
	return p
}

// debDescribeVersion splits a Debian version into the form libdpkg's
// versiondescribe(vdew_nonambig) prints and its revision. The epoch is
// shown only when it is not zero; the revision is what follows the last
// hyphen, empty for native packages. A version dpkg would reject (a
// non-numeric epoch) is returned as written.
func debDescribeVersion(v string) (version, revision string) {
	v = strings.TrimSpace(v)
	epoch, rest, hasEpoch := strings.Cut(v, ":")
	if !hasEpoch {
		return v, debRevision(v)
	}
	e, err := strconv.ParseUint(epoch, 10, 31)
	if err != nil {
		return v, debRevision(v)
	}
	revision = debRevision(rest)
	if e == 0 && !strings.Contains(rest, ":") {
		return rest, revision
	}
	return strconv.FormatUint(e, 10) + ":" + rest, revision
}

func debRevision(v string) string {
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return v[i+1:]
	}
	return ""
}

// debReadDatabase reads admindir/status and applies admindir/updates/*,
// keyed on (package, architecture) as dpkg keys its database, and returns
// the packages sorted by name then architecture (libdpkg's order).
func debReadDatabase(root, admindir string) ([]*debPackage, error) {
	f, err := procfs.OpenInRoot(root, path.Join(admindir, "status"))
	if err != nil {
		return nil, err
	}
	db := map[[2]string]*debPackage{}
	add := func(p *debPackage) {
		if p.Package != "" {
			db[[2]string{p.Package, p.Architecture}] = p
		}
	}
	err = parseDebStatus(io.LimitReader(f, debMaxStatus), add)
	f.Close()
	if err != nil {
		return nil, err
	}
	if d, err := procfs.OpenInRoot(root, path.Join(admindir, "updates")); err == nil {
		names, _ := d.Readdirnames(debMaxUpdates)
		d.Close()
		// Journal entries are numbered; dpkg applies them in order and
		// ignores anything else (the "tmp.i" being written).
		sort.Slice(names, func(i, j int) bool {
			if len(names[i]) != len(names[j]) {
				return len(names[i]) < len(names[j])
			}
			return names[i] < names[j]
		})
		for _, n := range names {
			if n == "" || strings.Trim(n, "0123456789") != "" {
				continue
			}
			if uf, err := procfs.OpenInRoot(root, path.Join(admindir, "updates", n)); err == nil {
				_ = parseDebStatus(io.LimitReader(uf, debMaxStatus), add)
				uf.Close()
			}
		}
	}
	out := make([]*debPackage, 0, len(db))
	for _, p := range db {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Architecture < out[j].Architecture
	})
	return out, nil
}

// parseDebStatus reads deb822 stanzas (dpkg's status file or an updates/
// journal entry) and calls fn for each. Field names are case-insensitive;
// continuation lines (Description, Conffiles) are skipped, lines without a
// colon ignored. A line longer than 1 MiB ends the parse with an error.
func parseDebStatus(r io.Reader, fn func(*debPackage)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur *debPackage
	flush := func() {
		if cur != nil {
			fn(cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		if cur == nil {
			cur = &debPackage{}
		}
		v := string(bytes.TrimSpace(val))
		switch strings.ToLower(string(bytes.TrimSpace(key))) {
		case "package":
			cur.Package = v
		case "version":
			cur.Version = v
		case "architecture":
			cur.Architecture = v
		case "status":
			cur.Status = v
		case "priority":
			cur.Priority = v
		case "section":
			cur.Section = v
		case "installed-size":
			cur.InstalledSize = v
		case "source":
			cur.Source = v
		case "maintainer":
			cur.Maintainer = v
		}
	}
	flush()
	return sc.Err()
}
