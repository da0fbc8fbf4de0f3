package system

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var systemControlsSpec = table.Spec{
	Name:        "system_controls",
	Description: "sysctl names, values, and settings information.",
	Columns: []table.Column{
		table.Text("name").Index(),
		table.Text("oid").Additional(),
		table.Text("subsystem").Additional(),
		table.Text("current_value"),
		table.Text("config_value"),
		table.Text("type"),
	},
}

type systemControlRow struct {
	Name         string `col:"name"`
	OID          string `col:"oid"`
	Subsystem    string `col:"subsystem"`
	CurrentValue string `col:"current_value"`
	ConfigValue  string `col:"config_value"`
	Type         string `col:"type"`
}

func init() { table.Register(systemControlsSpec, generateSystemControls) }

const (
	// systemControlsMaxDepth and systemControlsMaxEntries bound the walk
	// of /proc/sys (a few thousand entries, eight levels deep on a host
	// with many interfaces).
	systemControlsMaxDepth   = 32
	systemControlsMaxEntries = 200000
	// systemControlsMaxValue caps one value read; the largest real ones
	// (dev.cdrom.info, a few kB) are far below.
	systemControlsMaxValue = 64 << 10
)

// generateSystemControls lists the sysctls under /proc/sys as osquery does
// on Linux: name is the path with dots ("kernel.hostname"), subsystem its
// first component, oid empty (Linux has no numeric MIBs, so `oid = ?`
// matches nothing) and type always "string". current_value is the file's
// trimmed content, empty for write-only controls (vm.drop_caches).
// config_value is the value the sysctl.d configuration sets at boot.
//
// `name = ?` reads only the named files; `subsystem = ?` walks only that
// directory.
func generateSystemControls(ctx context.Context, q *table.Query, emit func(systemControlRow)) error {
	if q.HasOp("oid", table.OpEq) && !q.HasOp("name", table.OpEq) {
		return nil
	}
	root := q.Env.Proc("sys")
	var config systemControlsConfig
	if q.Used("config_value") {
		config = systemControlsLoadConfig(q.Env)
	}
	readValue := q.Used("current_value")
	row := func(name, file string) systemControlRow {
		r := systemControlRow{Name: name, Subsystem: strings.SplitN(name, ".", 2)[0], Type: "string"}
		if readValue {
			if b, err := procfs.ReadFile(file, systemControlsMaxValue); err == nil {
				r.CurrentValue = string(bytes.TrimSpace(b))
			}
		}
		r.ConfigValue = config.lookup(name)
		return r
	}

	if names := q.Equals("name"); len(names) > 0 {
		for _, name := range names {
			if file, ok := systemControlsResolve(root, name); ok {
				emit(row(name, file))
			}
		}
		return nil
	}

	subsystems := q.Equals("subsystem")
	if len(subsystems) == 0 {
		entries, err := os.ReadDir(root)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				subsystems = append(subsystems, e.Name())
			}
		}
	}
	budget := systemControlsMaxEntries
	for _, sub := range subsystems {
		if !systemControlsValidComponent(sub) {
			continue
		}
		systemControlsWalk(ctx, filepath.Join(root, sub), sub, 0, &budget, func(name, file string) {
			emit(row(name, file))
		})
	}
	return nil
}

// systemControlsWalk calls fn for every regular file under dir,
// subdirectories first as osquery lists them, with its dotted name.
func systemControlsWalk(ctx context.Context, dir, name string, depth int, budget *int, fn func(name, file string)) {
	if depth > systemControlsMaxDepth || ctx.Err() != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for pass := 0; pass < 2; pass++ {
		for _, e := range entries {
			if *budget <= 0 || ctx.Err() != nil {
				return
			}
			switch {
			case pass == 0 && e.IsDir():
				*budget--
				systemControlsWalk(ctx, filepath.Join(dir, e.Name()), name+"."+e.Name(), depth+1, budget, fn)
			case pass == 1 && e.Type().IsRegular():
				*budget--
				fn(name+"."+e.Name(), filepath.Join(dir, e.Name()))
			}
		}
	}
}

func systemControlsValidComponent(c string) bool {
	return c != "" && c != "." && c != ".." && !strings.ContainsAny(c, "/\x00")
}

// systemControlsResolve finds the file for a dotted name. A dot usually
// separates directories, but directory names may contain dots themselves
// (net.ipv4.conf.eth0.100.forwarding names conf/eth0.100/forwarding), so
// each possible grouping of the parts is tried against the real tree.
// Only existing directory entries are followed, so a name cannot leave
// /proc/sys.
func systemControlsResolve(root, name string) (string, bool) {
	parts := strings.Split(name, ".")
	if len(parts) > 64 {
		return "", false
	}
	budget := 1024
	var try func(dir string, i int) (string, bool)
	try = func(dir string, i int) (string, bool) {
		for k := 1; i+k <= len(parts); k++ {
			if budget--; budget < 0 {
				return "", false
			}
			comp := strings.Join(parts[i:i+k], ".")
			if !systemControlsValidComponent(comp) {
				continue
			}
			p := filepath.Join(dir, comp)
			st, err := os.Lstat(p)
			if err != nil {
				continue
			}
			if i+k == len(parts) {
				if st.Mode().IsRegular() {
					return p, true
				}
				continue
			}
			if st.IsDir() {
				if f, ok := try(p, i+k); ok {
					return f, true
				}
			}
		}
		return "", false
	}
	return try(root, 0)
}

// systemControlsSetting is one assignment of a sysctl configuration file.
type systemControlsSetting struct {
	key, value string
	glob       bool
}

// systemControlsConfig is the configured assignments in the order they
// are applied; a later one wins.
type systemControlsConfig []systemControlsSetting

func (c systemControlsConfig) lookup(name string) string {
	for i := len(c) - 1; i >= 0; i-- {
		s := c[i]
		if s.key == name {
			return s.value
		}
		if s.glob {
			if ok, _ := path.Match(s.key, name); ok {
				return s.value
			}
		}
	}
	return ""
}

// systemControlsDirs are sysctl.d(5)'s directories, highest priority first:
// a file in /etc/sysctl.d masks one of the same name further down.
var systemControlsDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// systemControlsLoadConfig reads the configuration the way it is applied
// at boot (systemd-sysctl, procps sysctl --system): the *.conf files of
// the sysctl.d directories, one per file name, in file name order, then
// /etc/sysctl.conf. osquery reads the same files but lets /lib/sysctl.d
// override /etc; here the file that really takes effect wins.
func systemControlsLoadConfig(env *table.Env) systemControlsConfig {
	byName := map[string]string{}
	for _, dir := range systemControlsDirs {
		entries, err := os.ReadDir(env.Path(dir))
		if err != nil {
			continue
		}
		for i, e := range entries {
			if i >= 1000 {
				break
			}
			n := e.Name()
			if !strings.HasSuffix(n, ".conf") || e.IsDir() {
				continue
			}
			if _, masked := byName[n]; !masked {
				byName[n] = env.Path(dir + "/" + n)
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, 0, len(names)+1)
	for _, n := range names {
		files = append(files, byName[n])
	}
	files = append(files, env.Path("/etc/sysctl.conf"))

	var cfg systemControlsConfig
	for _, f := range files {
		b, err := procfs.ReadFile(f, 1<<20)
		if err != nil {
			continue
		}
		cfg = append(cfg, parseSystemControlsConf(b)...)
	}
	return cfg
}

// parseSystemControlsConf parses a sysctl.conf(5) file: "key = value"
// lines, '#' and ';' comments. A leading '-' on the key (ignore failures)
// is dropped. Keys are turned into the table's names, which are paths
// under /proc/sys with every slash made a dot: sysctl.d(5) lets a key use
// slashes (kernel/domainname, net/ipv4/conf/eth0.100/forwarding) or dots
// with a slash standing for a dot inside a component
// (net.ipv4.conf.eth0/100.forwarding), and both come out the same.
func parseSystemControlsConf(b []byte) []systemControlsSetting {
	var out []systemControlsSetting
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(key), "-"), "/", ".")
		val = strings.TrimSpace(val)
		if key == "" {
			continue
		}
		out = append(out, systemControlsSetting{key: key, value: val, glob: strings.ContainsAny(key, "*?[")})
	}
	return out
}
