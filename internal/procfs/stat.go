package procfs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stat is /proc/<pid>/stat (proc(5)). Only the fields gosquery uses are
// kept.
type Stat struct {
	PID int
	// Comm is the command name between the parentheses. It may itself
	// contain spaces and parentheses; it is cut at the last ')'.
	Comm    string
	State   byte
	PPID    int
	PGRP    int
	Session int
	// Flags are the kernel's PF_* flags (field 9); PFKernelThread marks
	// kernel threads, which have no executable and no arguments.
	Flags     uint64
	UTime     uint64 // clock ticks in user mode
	STime     uint64 // clock ticks in kernel mode
	Nice      int64
	Threads   int64
	StartTime uint64 // clock ticks after boot
	VSize     uint64 // bytes
	RSS       int64  // pages
}

// ParseStat parses the content of /proc/<pid>/stat. The comm field is
// found between the first '(' and the last ')', because a process may name
// itself "a) b (c" and a naive split would shift every field after it.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, fmt.Errorf("stat: no (comm) in %q", truncate(b))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return s, fmt.Errorf("stat: bad pid in %q", truncate(b))
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])
	// Fields after the comm, numbered as in proc(5) starting at 3 (state).
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 22 {
		return s, fmt.Errorf("stat: %d fields after comm, want at least 22", len(f))
	}
	field := func(n int) string { return f[n-3] }
	if len(field(3)) > 0 {
		s.State = field(3)[0]
	}
	var errs [12]error
	s.PPID, errs[0] = strconv.Atoi(field(4))
	s.PGRP, errs[1] = strconv.Atoi(field(5))
	s.Session, errs[2] = strconv.Atoi(field(6))
	s.Flags, errs[10] = strconv.ParseUint(field(9), 10, 64)
	s.UTime, errs[3] = strconv.ParseUint(field(14), 10, 64)
	s.STime, errs[4] = strconv.ParseUint(field(15), 10, 64)
	s.Nice, errs[5] = strconv.ParseInt(field(19), 10, 64)
	s.Threads, errs[6] = strconv.ParseInt(field(20), 10, 64)
	s.StartTime, errs[7] = strconv.ParseUint(field(22), 10, 64)
	if len(f) >= 24 {
		s.VSize, errs[8] = strconv.ParseUint(field(23), 10, 64)
		s.RSS, errs[9] = strconv.ParseInt(field(24), 10, 64)
	}
	for _, e := range errs {
		if e != nil {
			return s, fmt.Errorf("stat of pid %d: %w", pid, e)
		}
	}
	return s, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// PFKernelThread is PF_KTHREAD in Stat.Flags.
const PFKernelThread = 0x00200000

// Stat reads and parses /proc/<pid>/stat.
func (fs FS) Stat(pid int) (Stat, error) {
	b, err := ReadFile(fs.PIDPath(pid, "stat"), 4096)
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// BootTime reads the boot time ("btime") from /proc/stat.
func (fs FS) BootTime() (time.Time, error) {
	b, err := ReadFile(fs.Path("stat"), 1<<20)
	if err != nil {
		return time.Time{}, err
	}
	return ParseBootTime(b)
}

// ParseBootTime finds the btime line of /proc/stat.
func ParseBootTime(b []byte) (time.Time, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("btime: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}

// Uptime reads /proc/uptime: seconds since boot.
func (fs FS) Uptime() (float64, error) {
	b, err := ReadFile(fs.Path("uptime"), 4096)
	if err != nil {
		return 0, err
	}
	return ParseUptime(b)
}

// ParseUptime parses the first number of /proc/uptime.
func ParseUptime(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("uptime: empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	return v, nil
}
