package system

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestSystemControlsLive(t *testing.T) {
	env := tabletest.HostEnv(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	rows := tabletest.Query(t, env, "select * from system_controls where name in ('kernel.hostname', 'kernel.osrelease', 'kernel.nonexistent', 'kernel', '../../etc/passwd')")
	got := map[string]map[string]string{}
	for _, r := range rows {
		got[r["name"]] = r
	}
	if len(rows) != 2 {
		t.Errorf("%d rows: %v", len(rows), rows)
	}
	if r := got["kernel.hostname"]; r["current_value"] != host || r["subsystem"] != "kernel" || r["type"] != "string" || r["oid"] != "" {
		t.Errorf("kernel.hostname row %v, hostname %q", r, host)
	}
	if r := got["kernel.osrelease"]; r["current_value"] != unix.ByteSliceToString(uts.Release[:]) {
		t.Errorf("kernel.osrelease %q", r["current_value"])
	}

	all := tabletest.Query(t, env, "select name, subsystem, current_value from system_controls")
	names := map[string]string{}
	for _, r := range all {
		names[r["name"]] = r["current_value"]
		if !strings.HasPrefix(r["name"], r["subsystem"]+".") {
			t.Errorf("%s in subsystem %s", r["name"], r["subsystem"])
		}
	}
	if names["kernel.hostname"] != host {
		t.Errorf("full walk: kernel.hostname = %q", names["kernel.hostname"])
	}
	// vm.drop_caches is write-only: listed, with no value.
	if v, ok := names["vm.drop_caches"]; ok && v != "" {
		t.Errorf("vm.drop_caches = %q", v)
	}
	// Every file of /proc/sys/kernel is listed.
	var want []string
	err = filepath.WalkDir("/proc/sys/kernel", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			want = append(want, strings.ReplaceAll(strings.TrimPrefix(p, "/proc/sys/"), "/", "."))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := tabletest.Query(t, env, "select name from system_controls where subsystem = 'kernel'")
	var gotSub []string
	for _, r := range sub {
		gotSub = append(gotSub, r["name"])
	}
	sort.Strings(want)
	sort.Strings(gotSub)
	if strings.Join(gotSub, " ") != strings.Join(want, " ") {
		t.Errorf("subsystem kernel:\n got %d names\nwant %d", len(gotSub), len(want))
	}
	// Linux has no numeric OIDs.
	if rows := tabletest.Query(t, env, "select * from system_controls where oid = '1.1'"); len(rows) != 0 {
		t.Errorf("oid query: %v", rows)
	}
}

// systemControlsFixture is a /proc/sys with dotted directory names and a
// configuration tree.
func systemControlsFixture(t *testing.T) *table.Env {
	t.Helper()
	dir := t.TempDir()
	write := func(p, content string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/sys/kernel/hostname", "fixture\n")
	write("proc/sys/kernel/random/uuid", "x\n")
	write("proc/sys/net/ipv4/conf/eth0/forwarding", "0\n")
	write("proc/sys/net/ipv4/conf/eth0.100/forwarding", "1\n")
	write("proc/sys/net/ipv4/conf/eth0.100/rp_filter", "2\n")
	write("proc/sys/net/ipv4/conf/all/rp_filter", "0\n")
	write("proc/sys/net/ipv4/ip_forward", "  1 \n\n")
	write("proc/sys/dev/cdrom/info", "CD-ROM information\n\ndrive name:\n")
	write("root/etc/sysctl.conf", "# main file\n; also a comment\nnet.ipv4.ip_forward = 1\nkernel.hostname=from-sysctl-conf\n")
	write("root/etc/sysctl.d/10-net.conf", "net/ipv4/conf/eth0.100/forwarding = 1\n-net.ipv4.conf.all.rp_filter=2\nnet.ipv4.conf.eth0/100.rp_filter = 3\nbad line\n=\n")
	write("root/usr/lib/sysctl.d/10-net.conf", "net.ipv4.conf.all.rp_filter = 9\n")
	write("root/usr/lib/sysctl.d/20-glob.conf", "net.ipv4.conf.*.rp_filter = 1\nkernel.hostname = from-usr-lib\n")
	write("root/usr/lib/sysctl.d/30-ignored.txt", "kernel.hostname = not-a-conf-file\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "proc/sys/kernel/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.ProcRoot = filepath.Join(dir, "proc")
	env.Root = filepath.Join(dir, "root")
	return env
}

func TestSystemControlsFixture(t *testing.T) {
	env := systemControlsFixture(t)
	rows := tabletest.Query(t, env, "select * from system_controls")
	got := map[string][2]string{}
	var order []string
	for _, r := range rows {
		got[r["name"]] = [2]string{r["current_value"], r["config_value"]}
		order = append(order, r["name"])
	}
	want := map[string][2]string{
		"kernel.hostname":                   {"fixture", "from-sysctl-conf"},
		"kernel.random.uuid":                {"x", ""},
		"net.ipv4.conf.eth0.forwarding":     {"0", ""},
		"net.ipv4.conf.eth0.100.forwarding": {"1", "1"},
		"net.ipv4.conf.eth0.100.rp_filter":  {"2", "1"},
		"net.ipv4.conf.all.rp_filter":       {"0", "1"},
		"net.ipv4.ip_forward":               {"1", "1"},
		"dev.cdrom.info":                    {"CD-ROM information\n\ndrive name:", ""},
	}
	if len(got) != len(want) {
		t.Errorf("names %v", order)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Subdirectories before files, as osquery walks.
	if strings.Join(order[:3], " ") != "dev.cdrom.info kernel.random.uuid kernel.hostname" {
		t.Errorf("order %v", order)
	}
}

// TestSystemControlsNamePushdown runs the generator directly, without
// SQLite's filtering, to show that `name = ?` reads only the named file.
func TestSystemControlsNamePushdown(t *testing.T) {
	env := systemControlsFixture(t)
	q := table.NewQuery(env, &systemControlsSpec)
	q.AddNamed("name", table.Constraint{Op: table.OpEq, Expr: "net.ipv4.conf.eth0.100.forwarding"})
	q.AddNamed("name", table.Constraint{Op: table.OpEq, Expr: "net.ipv4.conf.eth0.forwarding"})
	q.AddNamed("name", table.Constraint{Op: table.OpEq, Expr: "kernel.fifo"})
	q.AddNamed("name", table.Constraint{Op: table.OpEq, Expr: "net..ipv4.ip_forward"})
	q.AddNamed("name", table.Constraint{Op: table.OpEq, Expr: "net.ipv4.conf.eth0.100"})
	var got []string
	err := generateSystemControls(context.Background(), q, func(r systemControlRow) {
		got = append(got, r.Name+"="+r.CurrentValue)
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "net.ipv4.conf.eth0.100.forwarding=1 net.ipv4.conf.eth0.forwarding=0" {
		t.Errorf("got %v", got)
	}

	q = table.NewQuery(env, &systemControlsSpec)
	q.AddNamed("subsystem", table.Constraint{Op: table.OpEq, Expr: "kernel"})
	q.AddNamed("subsystem", table.Constraint{Op: table.OpEq, Expr: ".."})
	got = nil
	if err := generateSystemControls(context.Background(), q, func(r systemControlRow) { got = append(got, r.Name) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "kernel.random.uuid kernel.hostname" {
		t.Errorf("subsystem kernel: %v", got)
	}
}

func TestParseSystemControlsConf(t *testing.T) {
	in := "a.b = 1\n  # c\n;d=2\nkernel/domainname = example.com\nnet/ipv4/conf/enp3s0.200/forwarding=1\n-vm.swappiness= 10 \nx.y = a = b\nnoequals\n = 5\n\xff=\xfe\n"
	var got []string
	for _, s := range parseSystemControlsConf([]byte(in)) {
		got = append(got, s.key+"="+s.value)
	}
	want := "a.b=1 kernel.domainname=example.com net.ipv4.conf.enp3s0.200.forwarding=1 vm.swappiness=10 x.y=a = b \xff=\xfe"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %q\nwant %q", strings.Join(got, " "), want)
	}
}

func FuzzParseSystemControlsConf(f *testing.F) {
	f.Add([]byte("net.ipv4.ip_forward = 1\nkernel/hostname=x\n-a.*.b=2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := systemControlsConfig(parseSystemControlsConf(b))
		for _, s := range cfg {
			if s.key == "" {
				t.Fatal("empty key")
			}
			_ = cfg.lookup(s.key)
		}
	})
}
