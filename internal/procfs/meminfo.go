package procfs

import (
	"bytes"
	"math"
	"strconv"
)

// Meminfo is /proc/meminfo keyed by field name ("MemTotal", "Active(anon)").
// Fields the kernel reports in kB are converted to bytes; unitless fields
// (HugePages_Total) are kept as they are.
type Meminfo map[string]int64

// ParseMeminfo parses /proc/meminfo. Lines that are not "Key: number [kB]"
// are skipped, as are values that would overflow once converted to bytes.
func ParseMeminfo(b []byte) Meminfo {
	m := Meminfo{}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		key, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		key = bytes.TrimSpace(key)
		f := bytes.Fields(rest)
		if len(key) == 0 || len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || v < 0 {
			continue
		}
		if len(f) > 1 && string(f[1]) == "kB" {
			if v > math.MaxInt64/1024 {
				continue
			}
			v *= 1024
		}
		m[string(key)] = v
	}
	return m
}

// Get returns the named field and whether the file had it.
func (m Meminfo) Get(key string) (int64, bool) {
	v, ok := m[key]
	return v, ok
}

// Meminfo reads and parses /proc/meminfo.
func (fs FS) Meminfo() (Meminfo, error) {
	b, err := ReadFile(fs.Path("meminfo"), 1<<20)
	if err != nil {
		return nil, err
	}
	return ParseMeminfo(b), nil
}
