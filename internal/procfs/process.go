package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status is the part of /proc/<pid>/status gosquery uses.
type Status struct {
	Name string
	// UID and GID hold real, effective, saved and filesystem ids.
	UID, GID [4]int64
	// VmSize and VmRSS are in bytes (the file reports kB).
	VmSize, VmRSS int64
	Threads       int64
	TGID, PPID    int
}

// ParseStatus parses /proc/<pid>/status.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Name":
			// The kernel escapes newlines and backslashes in Name; keep it.
			s.Name, found = val, true
		case "Uid":
			s.UID = parseIDs(val)
		case "Gid":
			s.GID = parseIDs(val)
		case "VmSize":
			s.VmSize = parseKB(val)
		case "VmRSS":
			s.VmRSS = parseKB(val)
		case "Threads":
			s.Threads, _ = strconv.ParseInt(val, 10, 64)
		case "Tgid":
			s.TGID, _ = strconv.Atoi(val)
		case "PPid":
			s.PPID, _ = strconv.Atoi(val)
		}
	}
	if !found {
		return s, fmt.Errorf("status: no Name line")
	}
	return s, nil
}

func parseIDs(v string) [4]int64 {
	var ids [4]int64
	for i, f := range strings.Fields(v) {
		if i >= 4 {
			break
		}
		ids[i], _ = strconv.ParseInt(f, 10, 64)
	}
	return ids
}

func parseKB(v string) int64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n * 1024
}

// Status reads and parses /proc/<pid>/status.
func (fs FS) Status(pid int) (Status, error) {
	b, err := ReadFile(fs.PIDPath(pid, "status"), 64<<10)
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b)
}

// Cmdline reads /proc/<pid>/cmdline raw: NUL-separated arguments, possibly
// ending in a NUL. A kernel thread's is empty.
func (fs FS) Cmdline(pid int) ([]byte, error) {
	b, err := ReadFile(fs.PIDPath(pid, "cmdline"), DefaultMaxRead)
	if err != nil && len(b) == 0 {
		return nil, err
	}
	return b, nil
}

// JoinCmdline turns raw cmdline bytes into the arguments joined by single
// spaces, as osquery shows them. Bytes are kept as they are (the JSON and
// log encoders deal with invalid UTF-8).
func JoinCmdline(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return ""
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c == 0 {
			c = ' '
		}
		out[i] = c
	}
	return string(out)
}

// SplitCmdline returns the arguments of raw cmdline bytes.
func SplitCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// Exe reads the /proc/<pid>/exe link. For a deleted binary the kernel
// appends " (deleted)"; the suffix is kept so callers can tell.
func (fs FS) Exe(pid int) (string, error) {
	return os.Readlink(fs.PIDPath(pid, "exe"))
}

// Cwd reads the /proc/<pid>/cwd link.
func (fs FS) Cwd(pid int) (string, error) {
	return os.Readlink(fs.PIDPath(pid, "cwd"))
}

// Root reads the /proc/<pid>/root link.
func (fs FS) RootDir(pid int) (string, error) {
	return os.Readlink(fs.PIDPath(pid, "root"))
}

// IO is /proc/<pid>/io's storage counters.
type IO struct {
	ReadBytes, WriteBytes int64
}

// ParseIO parses /proc/<pid>/io.
func ParseIO(b []byte) IO {
	var io IO
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		switch key {
		case "read_bytes":
			io.ReadBytes = n
		case "write_bytes":
			io.WriteBytes = n
		}
	}
	return io
}

// IO reads /proc/<pid>/io (root only for other users' processes).
func (fs FS) IO(pid int) (IO, error) {
	b, err := ReadFile(fs.PIDPath(pid, "io"), 4096)
	if err != nil {
		return IO{}, err
	}
	return ParseIO(b), nil
}

// ParseCgroupPath returns the cgroup v2 path ("0::/path") of
// /proc/<pid>/cgroup, or the first hierarchy's path on a v1 host.
func ParseCgroupPath(b []byte) string {
	first := ""
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			return parts[2]
		}
		if first == "" {
			first = parts[2]
		}
	}
	return first
}

// Environ reads /proc/<pid>/environ: NUL-separated KEY=VALUE pairs.
func (fs FS) Environ(pid int) ([]byte, error) {
	b, err := ReadFile(fs.PIDPath(pid, "environ"), DefaultMaxRead)
	if err != nil && len(b) == 0 {
		return nil, err
	}
	return b, nil
}

// ParseEnviron splits raw environ bytes into key/value pairs, in order. An
// entry without '=' has an empty value.
func ParseEnviron(b []byte) [][2]string {
	var out [][2]string
	for _, e := range bytes.Split(b, []byte{0}) {
		if len(e) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(e, []byte{'='})
		out = append(out, [2]string{string(k), string(v)})
	}
	return out
}
