package system

import (
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

func systemInfoQuery(t *testing.T, env *table.Env) map[string]string {
	t.Helper()
	rows := tabletest.Query(t, env, "select * from system_info")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	return rows[0]
}

func TestSystemInfoLive(t *testing.T) {
	r := systemInfoQuery(t, tabletest.HostEnv(t))
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if r["computer_name"] != host {
		t.Errorf("computer_name %q, hostname %q", r["computer_name"], host)
	}
	if r["local_hostname"] != r["hostname"] || r["hostname"] == "" {
		t.Errorf("hostname %q, local_hostname %q", r["hostname"], r["local_hostname"])
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	if r["cpu_type"] != unix.ByteSliceToString(uts.Machine[:]) {
		t.Errorf("cpu_type %q", r["cpu_type"])
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatUint(uint64(si.Totalram)*uint64(si.Unit), 10); r["physical_memory"] != want {
		t.Errorf("physical_memory %s, sysinfo %s", r["physical_memory"], want)
	}
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		if want := strconv.Itoa(systemInfoCountCPUList(t, string(b))); r["cpu_logical_cores"] != want {
			t.Errorf("cpu_logical_cores %s, online cpus %s", r["cpu_logical_cores"], want)
		}
	}
	logical, _ := strconv.Atoi(r["cpu_logical_cores"])
	physical, _ := strconv.Atoi(r["cpu_physical_cores"])
	if physical < 1 || physical > logical {
		t.Errorf("physical cores %d, logical %d", physical, logical)
	}
	// The uuid is the SMBIOS one when the firmware has one, else the
	// machine id.
	want := ""
	if b, err := os.ReadFile("/sys/class/dmi/id/product_uuid"); err == nil {
		want = strings.ToLower(strings.TrimSpace(string(b)))
	} else if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		id := strings.TrimSpace(string(b))
		want = id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	}
	if want != "" && r["uuid"] != want {
		t.Errorf("uuid %q, want %q", r["uuid"], want)
	}
	if b, err := os.ReadFile("/sys/class/dmi/id/sys_vendor"); err == nil && r["hardware_vendor"] != strings.TrimSpace(string(b)) {
		t.Errorf("hardware_vendor %q, sysfs %q", r["hardware_vendor"], b)
	}
}

func systemInfoCountCPUList(t *testing.T, s string) int {
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad cpulist %q", s)
		}
		n += b - a + 1
	}
	return n
}

// TestSystemInfoFixture points the table at a fake /proc, /sys and /etc: a
// dual-socket machine with SMBIOS strings and a placeholder UUID.
func TestSystemInfoFixture(t *testing.T) {
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
	var cpuinfo strings.Builder
	for i := 0; i < 8; i++ {
		cpuinfo.WriteString("processor\t: " + strconv.Itoa(i) + "\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz\nmicrocode\t: 0x2007006\nphysical id\t: " + strconv.Itoa(i/4) + "\ncore id\t\t: " + strconv.Itoa(i%2) + "\n\n")
	}
	write("proc/cpuinfo", cpuinfo.String())
	write("proc/meminfo", "MemTotal:       16384 kB\nMemFree: 1 kB\n")
	write("proc/sys/kernel/hostname", "fixture-host\n")
	write("sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
	write("sys/class/dmi/id/product_name", "PowerEdge R640\n")
	write("sys/class/dmi/id/product_version", "  \n")
	write("sys/class/dmi/id/product_serial", "ABC1234\n")
	write("sys/class/dmi/id/board_vendor", "Dell Inc.\n")
	write("sys/class/dmi/id/board_name", "0W23H8\n")
	write("sys/class/dmi/id/board_version", "A01\n")
	write("sys/class/dmi/id/board_serial", ".ABC1234.CN7016.\n")
	write("sys/class/dmi/id/product_uuid", "03000200-0400-0500-0006-000700080009\n")
	write("root/etc/machine-id", "0123456789ABCDEF0123456789abcdef\n")
	write("root/etc/hosts", "# comment\n127.0.0.1 localhost\n10.0.0.5 fixture-host.example.com fixture-host # alias\n")

	env := tabletest.HostEnv(t)
	env.ProcRoot = filepath.Join(dir, "proc")
	env.SysRoot = filepath.Join(dir, "sys")
	env.Root = filepath.Join(dir, "root")
	r := systemInfoQuery(t, env)
	want := map[string]string{
		"hostname": "fixture-host.example.com", "local_hostname": "fixture-host.example.com", "computer_name": "fixture-host",
		"uuid":        "01234567-89ab-cdef-0123-456789abcdef",
		"cpu_subtype": "85", "cpu_brand": "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz", "cpu_microcode": "0x2007006",
		"cpu_logical_cores": "8", "cpu_physical_cores": "4", "cpu_sockets": "2", "physical_memory": "16777216",
		"hardware_vendor": "Dell Inc.", "hardware_model": "PowerEdge R640", "hardware_version": "", "hardware_serial": "ABC1234",
		"board_vendor": "Dell Inc.", "board_model": "0W23H8", "board_version": "A01", "board_serial": ".ABC1234.CN7016.",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %q, want %q", k, r[k], v)
		}
	}

	// The configured host UUID wins, as osquery_info shows it.
	env.Runtime = &table.Runtime{HostUUID: "11111111-2222-3333-4444-555555555555"}
	if r := systemInfoQuery(t, env); r["uuid"] != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("uuid with Runtime.HostUUID: %q", r["uuid"])
	}

	// Nothing readable: osquery's fallbacks.
	env = tabletest.HostEnv(t)
	env.ProcRoot, env.SysRoot, env.Root = filepath.Join(dir, "none"), filepath.Join(dir, "none"), filepath.Join(dir, "none")
	r = systemInfoQuery(t, env)
	for k, v := range map[string]string{"cpu_subtype": "0", "cpu_logical_cores": "-1", "cpu_physical_cores": "-1", "cpu_sockets": tabletest.Null, "physical_memory": "-1", "uuid": "", "hardware_model": ""} {
		if r[k] != v {
			t.Errorf("empty host: %s = %q, want %q", k, r[k], v)
		}
	}
}

func TestSystemInfoHostsCanonical(t *testing.T) {
	hosts := "127.0.0.1\tlocalhost\n" +
		"::1 localhost ip6-localhost\n" +
		"not-an-ip myhost\n" +
		"10.0.0.1 # myhost in a comment\n" +
		"10.0.0.2 canon.example.org MyHost other\n" +
		"10.0.0.3 second.example.org myhost\n" +
		"fe80::1%eth0 linklocal\n" +
		strings.Repeat("x", 100<<10) + "\n" +
		"10.0.0.4 after-long-line\n"
	for host, want := range map[string]string{"myhost": "canon.example.org", "MYHOST": "canon.example.org", "localhost": "localhost", "ip6-localhost": "localhost", "linklocal": "linklocal", "nothere": ""} {
		got, ok := systemInfoHostsCanonical(strings.NewReader(hosts), host)
		if got != want || ok != (want != "") {
			t.Errorf("%s -> %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestSystemInfoMachineIDUUID(t *testing.T) {
	for in, want := range map[string]string{
		"3d1219c7c4c5404aaa1f6d2a48adfda4":   "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4",
		"3D1219C7C4C5404AAA1F6D2A48ADFDA4":   "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4",
		"00000000000000000000000000000000":   "",
		"3d1219c7c4c5404aaa1f6d2a48adfda":    "",
		"3d1219c7c4c5404aaa1f6d2a48adfdag":   "",
		"3d1219c7-c4c5-404a-aa1f-6d2a48adfd": "",
		"":                                   "",
	} {
		got, ok := systemInfoMachineIDUUID(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q -> %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzSystemInfoHostsCanonical(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n10.0.0.2 a.example b\n"), "b")
	f.Fuzz(func(t *testing.T, b []byte, host string) {
		name, ok := systemInfoHostsCanonical(strings.NewReader(string(b)), host)
		if ok && (name == "" || strings.ContainsAny(name, " \t\n#")) {
			t.Fatalf("bad canonical name %q", name)
		}
	})
}
