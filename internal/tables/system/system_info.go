package system

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var systemInfoSpec = table.Spec{
	Name:        "system_info",
	Description: "System information for identification.",
	Columns: []table.Column{
		table.Text("hostname"),
		table.Text("uuid").Collation("nocase"),
		table.Text("cpu_type"),
		table.Text("cpu_subtype"),
		table.Text("cpu_brand"),
		table.Integer("cpu_physical_cores"),
		table.Integer("cpu_logical_cores"),
		table.Integer("cpu_sockets"),
		table.Text("cpu_microcode"),
		table.BigInt("physical_memory"),
		table.Text("hardware_vendor"),
		table.Text("hardware_model"),
		table.Text("hardware_version"),
		table.Text("hardware_serial"),
		table.Text("board_vendor"),
		table.Text("board_model"),
		table.Text("board_version"),
		table.Text("board_serial"),
		table.Text("computer_name"),
		table.Text("local_hostname"),
	},
}

type systemInfoRow struct {
	Hostname         string        `col:"hostname"`
	UUID             string        `col:"uuid"`
	CPUType          string        `col:"cpu_type"`
	CPUSubtype       string        `col:"cpu_subtype"`
	CPUBrand         string        `col:"cpu_brand"`
	CPUPhysicalCores int64         `col:"cpu_physical_cores"`
	CPULogicalCores  int64         `col:"cpu_logical_cores"`
	CPUSockets       table.NullInt `col:"cpu_sockets"`
	CPUMicrocode     string        `col:"cpu_microcode"`
	PhysicalMemory   int64         `col:"physical_memory"`
	HardwareVendor   string        `col:"hardware_vendor"`
	HardwareModel    string        `col:"hardware_model"`
	HardwareVersion  string        `col:"hardware_version"`
	HardwareSerial   string        `col:"hardware_serial"`
	BoardVendor      string        `col:"board_vendor"`
	BoardModel       string        `col:"board_model"`
	BoardVersion     string        `col:"board_version"`
	BoardSerial      string        `col:"board_serial"`
	ComputerName     string        `col:"computer_name"`
	LocalHostname    string        `col:"local_hostname"`
}

func init() { table.Register(systemInfoSpec, generateSystemInfo) }

// generateSystemInfo emits the one row describing the host. As in osquery:
// computer_name is gethostname(2); hostname and local_hostname are its
// canonical name (what getaddrinfo's AI_CANONNAME gives: /etc/hosts first,
// then DNS), or the plain hostname when nothing resolves it; CPU facts come
// from uname(2) and /proc/cpuinfo's first processor; physical_memory is
// MemTotal in bytes; hardware_* and board_* are the SMBIOS system and
// baseboard strings, which the kernel exports under /sys/class/dmi/id
// (empty in VMs without SMBIOS, and the serials need root).
func generateSystemInfo(ctx context.Context, q *table.Query, emit func(systemInfoRow)) error {
	fs := procfs.New(q.Env.ProcRoot)
	r := systemInfoRow{CPUSubtype: "0", CPULogicalCores: -1, CPUPhysicalCores: -1, PhysicalMemory: -1}

	r.ComputerName = systemInfoHostname(q.Env)
	r.Hostname = r.ComputerName
	if q.UsedAny("hostname", "local_hostname") {
		r.Hostname = systemInfoCanonicalName(ctx, q.Env, r.ComputerName)
	}
	r.LocalHostname = r.Hostname

	if q.Used("uuid") {
		r.UUID = systemInfoUUID(q.Env)
	}

	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		r.CPUType = unix.ByteSliceToString(uts.Machine[:])
	}

	if blocks, err := fs.CPUInfo(); err == nil {
		if len(blocks) > 0 {
			// osquery reads the first processor's block only.
			first := blocks[0]
			if v := first["model"]; v != "" {
				r.CPUSubtype = v
			}
			r.CPUBrand = first["model name"]
			r.CPUMicrocode = first["microcode"]
		}
		top := procfs.Topology(blocks)
		if top.Logical > 0 {
			r.CPULogicalCores = int64(top.Logical)
			r.CPUPhysicalCores = int64(top.Physical)
		}
		// osquery leaves cpu_sockets empty on Linux; the number of
		// distinct physical ids is what the column means on the other
		// platforms, so it is filled when the kernel names them.
		if top.Sockets > 0 {
			r.CPUSockets = table.Int(int64(top.Sockets))
		}
	} else {
		q.Env.Log.Debug("system_info: cannot read cpuinfo", "err", err)
	}

	if m, err := fs.Meminfo(); err == nil {
		if v, ok := m.Get("MemTotal"); ok {
			r.PhysicalMemory = v
		}
	}

	dmi := func(name string) string {
		b, err := procfs.ReadFile(q.Env.Sys("class", "dmi", "id", name), 4096)
		if err != nil {
			return ""
		}
		return string(bytes.TrimSpace(b))
	}
	r.HardwareVendor = dmi("sys_vendor")
	r.HardwareModel = dmi("product_name")
	r.HardwareVersion = dmi("product_version")
	r.HardwareSerial = dmi("product_serial")
	r.BoardVendor = dmi("board_vendor")
	r.BoardModel = dmi("board_name")
	r.BoardVersion = dmi("board_version")
	r.BoardSerial = dmi("board_serial")

	emit(r)
	return nil
}

// systemInfoHostname is gethostname(2): the UTS namespace's node name,
// which /proc/sys/kernel/hostname shows.
func systemInfoHostname(env *table.Env) string {
	if b, err := procfs.ReadFile(env.Proc("sys", "kernel", "hostname"), 4096); err == nil {
		if h := string(bytes.TrimSpace(b)); h != "" {
			return h
		}
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		return strings.TrimSpace(unix.ByteSliceToString(uts.Nodename[:]))
	}
	return ""
}

// systemInfoResolveTimeout bounds the DNS part of the canonical name
// lookup, so that a host with an unreachable resolver still answers.
const systemInfoResolveTimeout = time.Second

// systemInfoCanonicalName returns host's canonical name the way glibc's
// getaddrinfo(AI_CANONNAME) finds it with the usual "hosts: files dns":
// the first name of the first /etc/hosts line listing host, else the name
// DNS gives (following CNAMEs), else host itself.
func systemInfoCanonicalName(ctx context.Context, env *table.Env, host string) string {
	if host == "" {
		return ""
	}
	if f, err := os.Open(env.Path("/etc/hosts")); err == nil {
		name, ok := systemInfoHostsCanonical(io.LimitReader(f, 4<<20), host)
		f.Close()
		if ok {
			return name
		}
	}
	if env.Root != "" && env.Root != "/" {
		// A fixture root has no resolver of its own.
		return host
	}
	ctx, cancel := context.WithTimeout(ctx, systemInfoResolveTimeout)
	defer cancel()
	if cname, err := net.DefaultResolver.LookupCNAME(ctx, host); err == nil {
		if cname = strings.TrimSuffix(cname, "."); cname != "" {
			return cname
		}
	}
	return host
}

// systemInfoHostsCanonical scans an /etc/hosts file for host (case
// insensitive) and returns the canonical (first) name of its line.
func systemInfoHostsCanonical(r io.Reader, host string) (string, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 || net.ParseIP(strings.SplitN(f[0], "%", 2)[0]) == nil {
			continue
		}
		for _, name := range f[1:] {
			if strings.EqualFold(name, host) {
				return f[1], true
			}
		}
	}
	return "", false
}

// systemInfoPlaceholderUUIDs are SMBIOS UUIDs that firmware vendors ship
// unchanged on many boards; osquery does not treat them as identifying.
var systemInfoPlaceholderUUIDs = map[string]bool{
	"00000000-0000-0000-0000-000000000000": true,
	"03000200-0400-0500-0006-000700080009": true,
	"03020100-0504-0706-0809-0a0b0c0d0e0f": true,
	"10000000-0000-8000-0040-000000000000": true,
}

// systemInfoUUID is the host UUID: the one the process was configured with
// (Runtime.HostUUID, what osquery_info and host_identifier=uuid show), else
// the SMBIOS product UUID, else the systemd/dbus machine id written as a
// UUID. osquery falls back to a random UUID it persists in its database;
// the machine id is the stable equivalent this process can read.
func systemInfoUUID(env *table.Env) string {
	if env.Runtime != nil && env.Runtime.HostUUID != "" {
		return env.Runtime.HostUUID
	}
	if b, err := procfs.ReadFile(env.Sys("class", "dmi", "id", "product_uuid"), 4096); err == nil {
		u := strings.ToLower(string(bytes.TrimSpace(bytes.TrimRight(b, "\x00"))))
		if u != "" && !systemInfoPlaceholderUUIDs[u] {
			return u
		}
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := procfs.ReadFile(env.Path(p), 4096); err == nil {
			if u, ok := systemInfoMachineIDUUID(string(bytes.TrimSpace(b))); ok {
				return u
			}
		}
	}
	return ""
}

// systemInfoMachineIDUUID formats a 32 hex digit machine id as
// 8-4-4-4-12, lower case.
func systemInfoMachineIDUUID(id string) (string, bool) {
	if len(id) != 32 {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	id = strings.ToLower(id)
	if id == strings.Repeat("0", 32) {
		return "", false
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32], true
}
