package procfs

import (
	"bytes"
	"strconv"
)

// CPUStat is one "cpu" line of /proc/stat. Times are in USER_HZ clock
// ticks (ClockTicks per second), as the kernel reports them.
type CPUStat struct {
	// CPU is the core number, or -1 for the aggregate "cpu" line.
	CPU                                   int
	User, Nice, System, Idle, IOWait      uint64
	IRQ, SoftIRQ, Steal, Guest, GuestNice uint64
}

// ParseCPUStat returns the cpu lines of /proc/stat, the aggregate first
// when present. A line needs the seven fields every kernel since 2.6 has
// (user through softirq); steal, guest and guest_nice read as 0 when an
// older kernel omits them. Lines with a non-numeric field are skipped.
func ParseCPUStat(b []byte) []CPUStat {
	var out []CPUStat
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if !bytes.HasPrefix(line, []byte("cpu")) {
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 8 {
			continue
		}
		s := CPUStat{CPU: -1}
		if name := f[0][3:]; len(name) > 0 {
			n, err := strconv.Atoi(string(name))
			if err != nil || n < 0 {
				continue
			}
			s.CPU = n
		}
		dst := [...]*uint64{&s.User, &s.Nice, &s.System, &s.Idle, &s.IOWait, &s.IRQ, &s.SoftIRQ, &s.Steal, &s.Guest, &s.GuestNice}
		ok := true
		for i, p := range dst {
			if i+1 >= len(f) {
				break
			}
			v, err := strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil {
				ok = false
				break
			}
			*p = v
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// CPUStat reads /proc/stat and returns its cpu lines.
func (fs FS) CPUStat() ([]CPUStat, error) {
	b, err := ReadFile(fs.Path("stat"), DefaultMaxRead)
	if err != nil {
		return nil, err
	}
	return ParseCPUStat(b), nil
}
