package system

import (
	"bytes"
	"context"
	"strings"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var kernelInfoSpec = table.Spec{
	Name:        "kernel_info",
	Description: "Basic active kernel information.",
	Columns: []table.Column{
		table.Text("version").Collation("version"),
		table.Text("arguments"),
		table.Text("path"),
		table.Text("device"),
	},
	Attributes: table.Cacheable,
}

type kernelInfoRow struct {
	Version   string `col:"version"`
	Arguments string `col:"arguments"`
	Path      string `col:"path"`
	Device    string `col:"device"`
}

func init() { table.Register(kernelInfoSpec, generateKernelInfo) }

// generateKernelInfo emits the running kernel's release and boot command
// line. As in osquery, the BOOT_IMAGE= argument (set by GRUB) becomes path
// and root= becomes device, and both are left out of arguments; a kernel
// booted without them (direct boot, containers' VMs) has both empty.
func generateKernelInfo(ctx context.Context, q *table.Query, emit func(kernelInfoRow)) error {
	fs := procfs.New(q.Env.ProcRoot)
	var r kernelInfoRow
	if args, err := fs.KernelCmdline(); err == nil {
		r.Arguments, r.Path, r.Device = kernelInfoSplitArgs(args)
	} else {
		q.Env.Log.Debug("kernel_info: cannot read the command line", "err", err)
	}
	r.Version = kernelInfoRelease(fs)
	emit(r)
	return nil
}

// kernelInfoSplitArgs separates BOOT_IMAGE= and root= from the other
// arguments, which are joined by single spaces. A repeated BOOT_IMAGE= or
// root= keeps the last one, as the kernel does for root=.
func kernelInfoSplitArgs(args []string) (arguments, path, device string) {
	var rest []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "BOOT_IMAGE="):
			path = a[len("BOOT_IMAGE="):]
		case strings.HasPrefix(a, "root="):
			device = a[len("root="):]
		default:
			rest = append(rest, a)
		}
	}
	return strings.Join(rest, " "), path, device
}

// kernelInfoRelease is uname -r: /proc/sys/kernel/osrelease, or the third
// word of /proc/version ("Linux version 6.1.0-18-amd64 ..."), which is
// where osquery reads it.
func kernelInfoRelease(fs procfs.FS) string {
	if b, err := procfs.ReadFile(fs.Path("sys", "kernel", "osrelease"), 4096); err == nil {
		if v := string(bytes.TrimSpace(b)); v != "" {
			return v
		}
	}
	if b, err := procfs.ReadFile(fs.Path("version"), 4096); err == nil {
		if f := strings.Fields(string(b)); len(f) > 2 && f[1] == "version" {
			return f[2]
		}
	}
	return ""
}
