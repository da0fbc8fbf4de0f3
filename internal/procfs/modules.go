package procfs

import (
	"bytes"
	"strconv"
)

// Module is one line of /proc/modules:
//
//	name size refcount used_by state address [taints]
//
// e.g. "nf_tables 299008 4 nft_chain_nat, Live 0xffffffffc0a00000 (E)".
type Module struct {
	Name string
	Size int64
	// Refcount is the instance count, "-" when the module cannot be
	// unloaded.
	Refcount string
	// UsedBy lists the dependent modules comma-separated with the
	// kernel's trailing comma removed, or "-" when there are none.
	UsedBy string
	// State is Live, Loading or Unloading.
	State string
	// Address is the load address as the kernel prints it; all zeros
	// when kptr_restrict hides it from the reader.
	Address string
	// Taints is the optional taint flag group, e.g. "(OE)".
	Taints string
}

// ParseModules parses /proc/modules, skipping lines with fewer than the six
// mandatory fields or a size that is not a number.
func ParseModules(b []byte) []Module {
	var out []Module
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) < 6 {
			continue
		}
		size, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil || size < 0 {
			continue
		}
		m := Module{
			Name:     string(f[0]),
			Size:     size,
			Refcount: string(f[2]),
			UsedBy:   string(trimComma(f[3])),
			State:    string(f[4]),
			Address:  string(f[5]),
		}
		if len(f) > 6 {
			m.Taints = string(f[6])
		}
		out = append(out, m)
	}
	return out
}

func trimComma(b []byte) []byte {
	if len(b) > 1 && b[len(b)-1] == ',' {
		return b[:len(b)-1]
	}
	return b
}

// Modules reads and parses /proc/modules. A kernel built without module
// support has no such file; the error is then fs.ErrNotExist.
func (fs FS) Modules() ([]Module, error) {
	b, err := ReadFile(fs.Path("modules"), DefaultMaxRead)
	if err != nil {
		return nil, err
	}
	return ParseModules(b), nil
}
