package networking

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseEtcHosts(t *testing.T) {
	b, err := os.ReadFile("testdata/hosts/hostile")
	if err != nil {
		t.Fatal(err)
	}
	got := parseEtcHosts(b)
	want := []etcHostsRow{
		{Address: "127.0.0.1", Hostnames: "localhost"},
		{Address: "127.0.1.1", Hostnames: "debian.example.org debian"},
		{Address: "::1", Hostnames: "localhost ip6-localhost ip6-loopback"},
		{Address: "ff02::1", Hostnames: "ip6-allnodes"},
		{Address: "ff02::2", Hostnames: "ip6-allrouters"},
		{Address: "10.0.0.5", Hostnames: "db db.internal"},
		// A '#' glued to the address is not a comment start, in
		// osquery's splitting either.
		{Address: "10.0.0.6#nospace", Hostnames: "comment"},
		{Address: "10.0.0.7", Hostnames: "only-before"},
		{Address: "10.0.0.8", Hostnames: ""},
		{Address: "192.168.1.1", Hostnames: "caf\u00e9 \xff\xfe-binary"},
		{Address: "not-an-address", Hostnames: "but kept"},
		{Address: "10.0.0.10", Hostnames: "TAB SEPARATED"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
	if rows := parseEtcHosts(nil); len(rows) != 0 {
		t.Errorf("empty file: %v", rows)
	}
}

func TestEtcHostsFixtureRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/hosts/vm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "hosts"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := tabletest.HostEnv(t)
	env.Root = root
	rows := tabletest.Query(t, env, "select address, hostnames, pid_with_namespace from etc_hosts")
	if len(rows) != 3 || rows[1]["hostnames"] != "runsc" || rows[0]["pid_with_namespace"] != "0" {
		t.Errorf("rows = %v", rows)
	}
	// A root without the file has no rows and no error, as in osquery.
	env.Root = t.TempDir()
	if rows := tabletest.Query(t, env, "select * from etc_hosts"); len(rows) != 0 {
		t.Errorf("no file: %v", rows)
	}
}

func TestEtcHostsLive(t *testing.T) {
	b, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skip(err)
	}
	var want []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			want = append(want, f[0])
		}
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from etc_hosts")
	var got []string
	for _, r := range rows {
		got = append(got, r["address"])
		if _, ok := r["pid_with_namespace"]; ok {
			t.Error("hidden column in select *")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("addresses %q, /etc/hosts has %q", got, want)
	}

	// pid_with_namespace reads the file as that process sees it; for
	// this process that is the same file, and rows carry the pid.
	pid := strconv.Itoa(os.Getpid())
	ns := tabletest.Query(t, tabletest.HostEnv(t), "select address, pid_with_namespace from etc_hosts where pid_with_namespace = "+pid)
	if len(ns) != len(want) {
		t.Errorf("pid_with_namespace = self: %d rows, want %d", len(ns), len(want))
	}
	for _, r := range ns {
		if r["pid_with_namespace"] != pid {
			t.Errorf("row %v lacks pid %s", r, pid)
		}
	}
	// A pid that does not exist has no rows.
	if rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from etc_hosts where pid_with_namespace = 999999999"); len(rows) != 0 {
		t.Errorf("missing pid: %v", rows)
	}
}

func FuzzParseEtcHosts(f *testing.F) {
	for _, name := range []string{"vm", "hostile"} {
		b, err := os.ReadFile(filepath.Join("testdata", "hosts", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range parseEtcHosts(b) {
			if r.Address == "" || strings.HasPrefix(r.Address, "#") || strings.ContainsAny(r.Address+r.Hostnames, "\n\t") {
				t.Fatalf("bad row %+v", r)
			}
		}
	})
}
