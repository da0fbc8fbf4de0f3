package procfs

import (
	"bytes"
	"strconv"
)

// CPUInfoBlock is one blank-line separated block of /proc/cpuinfo: usually
// one logical processor ("processor", "model name", "physical id", ...).
// Some architectures add a trailing block without "processor" (ARM's
// "Hardware", "Revision", "Serial").
type CPUInfoBlock map[string]string

// ParseCPUInfo splits /proc/cpuinfo into its blocks. Keys and values are
// trimmed; lines without a colon are skipped. When a key repeats inside a
// block the first value is kept.
func ParseCPUInfo(b []byte) []CPUInfoBlock {
	var blocks []CPUInfoBlock
	var cur CPUInfoBlock
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			cur = nil
			continue
		}
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		k := string(bytes.TrimSpace(key))
		if k == "" {
			continue
		}
		if cur == nil {
			cur = CPUInfoBlock{}
			blocks = append(blocks, cur)
		}
		if _, dup := cur[k]; !dup {
			cur[k] = string(bytes.TrimSpace(val))
		}
	}
	return blocks
}

// CPUTopology is what /proc/cpuinfo says about the processor layout.
type CPUTopology struct {
	// Logical is the number of "processor" blocks: online logical CPUs.
	Logical int
	// Physical is the number of distinct (physical id, core id) pairs,
	// falling back to Logical when the file has no core ids (as
	// boost::thread::physical_concurrency, which osquery uses, does).
	Physical int
	// Sockets is the number of distinct physical ids, 0 when the file
	// does not name them (most non-x86 kernels).
	Sockets int
}

// Topology counts logical CPUs, cores and sockets.
func Topology(blocks []CPUInfoBlock) CPUTopology {
	var t CPUTopology
	type core struct{ pkg, id uint64 }
	cores := map[core]bool{}
	sockets := map[uint64]bool{}
	for _, blk := range blocks {
		if _, ok := blk["processor"]; !ok {
			continue
		}
		t.Logical++
		pkg, perr := strconv.ParseUint(blk["physical id"], 10, 64)
		if perr == nil {
			sockets[pkg] = true
		}
		id, cerr := strconv.ParseUint(blk["core id"], 10, 64)
		if cerr == nil {
			// boost counts a core id without a physical id under package 0.
			if perr != nil {
				pkg = 0
			}
			cores[core{pkg, id}] = true
		}
	}
	t.Physical = len(cores)
	if t.Physical == 0 {
		t.Physical = t.Logical
	}
	t.Sockets = len(sockets)
	return t
}

// CPUInfo reads and parses /proc/cpuinfo.
func (fs FS) CPUInfo() ([]CPUInfoBlock, error) {
	b, err := ReadFile(fs.Path("cpuinfo"), DefaultMaxRead)
	if err != nil {
		return nil, err
	}
	return ParseCPUInfo(b), nil
}
