package system

import (
	"context"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var memoryInfoSpec = table.Spec{
	Name:        "memory_info",
	Description: "Main memory information in bytes (Linux).",
	Columns: []table.Column{
		table.BigInt("memory_total"),
		table.BigInt("memory_free"),
		table.BigInt("memory_available"),
		table.BigInt("buffers"),
		table.BigInt("cached"),
		table.BigInt("swap_cached"),
		table.BigInt("active"),
		table.BigInt("inactive"),
		table.BigInt("swap_total"),
		table.BigInt("swap_free"),
	},
}

// memoryInfoRow holds /proc/meminfo fields in bytes. A field the kernel
// does not report (MemAvailable before 3.14) is NULL, as in osquery.
type memoryInfoRow struct {
	MemoryTotal     table.NullInt `col:"memory_total"`
	MemoryFree      table.NullInt `col:"memory_free"`
	MemoryAvailable table.NullInt `col:"memory_available"`
	Buffers         table.NullInt `col:"buffers"`
	Cached          table.NullInt `col:"cached"`
	SwapCached      table.NullInt `col:"swap_cached"`
	Active          table.NullInt `col:"active"`
	Inactive        table.NullInt `col:"inactive"`
	SwapTotal       table.NullInt `col:"swap_total"`
	SwapFree        table.NullInt `col:"swap_free"`
}

func init() { table.Register(memoryInfoSpec, generateMemoryInfo) }

// generateMemoryInfo emits one row from /proc/meminfo, converting the
// kernel's kB (KiB) to bytes.
func generateMemoryInfo(ctx context.Context, q *table.Query, emit func(memoryInfoRow)) error {
	m, err := procfs.New(q.Env.ProcRoot).Meminfo()
	if err != nil {
		return err
	}
	get := func(key string) table.NullInt {
		v, ok := m.Get(key)
		return table.NullInt{Int: v, Valid: ok}
	}
	emit(memoryInfoRow{
		MemoryTotal:     get("MemTotal"),
		MemoryFree:      get("MemFree"),
		MemoryAvailable: get("MemAvailable"),
		Buffers:         get("Buffers"),
		Cached:          get("Cached"),
		SwapCached:      get("SwapCached"),
		Active:          get("Active"),
		Inactive:        get("Inactive"),
		SwapTotal:       get("SwapTotal"),
		SwapFree:        get("SwapFree"),
	})
	return nil
}
