package system

import (
	"context"
	"errors"
	"io/fs"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var kernelModulesSpec = table.Spec{
	Name:        "kernel_modules",
	Description: "Linux kernel modules both loaded and within the load search path.",
	Columns: []table.Column{
		table.Text("name"),
		table.BigInt("size"),
		table.Text("used_by"),
		table.Text("status"),
		table.Text("address"),
	},
}

type kernelModuleRow struct {
	Name    string `col:"name"`
	Size    int64  `col:"size"`
	UsedBy  string `col:"used_by"`
	Status  string `col:"status"`
	Address string `col:"address"`
}

func init() { table.Register(kernelModulesSpec, generateKernelModules) }

// generateKernelModules lists /proc/modules. used_by is the kernel's list
// without its trailing comma ("-" when nothing depends on the module), and
// address is printed as the kernel shows it: zeros unless the reader may
// see kernel pointers (root, kptr_restrict < 2).
func generateKernelModules(ctx context.Context, q *table.Query, emit func(kernelModuleRow)) error {
	mods, err := procfs.New(q.Env.ProcRoot).Modules()
	if errors.Is(err, fs.ErrNotExist) {
		// A kernel built without loadable module support: no modules.
		return nil
	}
	if err != nil {
		return err
	}
	for _, m := range mods {
		emit(kernelModuleRow{Name: m.Name, Size: m.Size, UsedBy: m.UsedBy, Status: m.State, Address: m.Address})
	}
	return nil
}
