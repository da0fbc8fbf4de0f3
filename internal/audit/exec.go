package audit

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Clone flags DecodeExec looks at (linux/sched.h).
const (
	cloneParent = 0x00008000
	cloneThread = 0x00010000
)

// maxArgIndex bounds argument indices taken from EXECVE records.
const maxArgIndex = 1 << 20

// Exec is a process event decoded from an audit event: a successful
// execve/execveat, or, when those syscalls are audited, a fork/vfork/clone
// (a new process) or a kill/tkill/tgkill. Field meanings follow osquery's
// process_events (§7.3 of the behaviour notes) except where noted.
type Exec struct {
	ID        string    // audit_id, "<sec>.<msec>:<serial>"
	Serial    uint64    // audit serial
	Time      time.Time // audit timestamp (syscall entry, coarse clock)
	Syscall   string    // execve, execveat, clone, fork, vfork, kill, tkill, tgkill; the number if unknown
	SyscallNr int       // in Arch's numbering
	Arch      Arch
	Success   bool
	Exit      int64

	// PID is the process the row is about: the caller, or for
	// fork/vfork/clone the new child (the syscall's return value).
	PID int64
	// PPID is osquery's "parent": SYSCALL ppid; for fork/vfork the caller;
	// for clone the caller's parent with CLONE_PARENT, else the caller.
	PPID int64

	UID, EUID, SUID, FSUID int64
	GID, EGID, SGID, FSGID int64
	AUID                   int64  // 4294967295 when unset
	Ses                    int64  // 4294967295 when unset
	TTY                    string // "" for (none)
	Comm                   string // decoded
	Exe                    string // decoded
	Key                    string // the matching rule's key, decoded ("" for (null))

	// Argv holds the arguments from the EXECVE records: every record of
	// the event, in numeric order a0, a1, ..., a10 (osquery sorts the keys
	// as strings and reads only the first record; we fix both), hex and
	// chunked (aN_len, aN[i]) arguments reassembled. It is nil for
	// fork/kill events unless ArgvFromProctitle.
	Argv []string
	// Argc is the argc the EXECVE record declared, -1 if none.
	Argc int
	// ArgvFromProctitle is set when there was no EXECVE record and Argv
	// comes from the PROCTITLE record (capped by the kernel at 128 bytes).
	ArgvFromProctitle bool
	// ArgvIncomplete is set when declared arguments or chunks are missing
	// (lost records) or a chunked argument's length does not match aN_len.
	ArgvIncomplete bool

	Cwd string // decoded, without quotes (osquery keeps the quotes)

	// From the first PATH record (item 0 when present): the executable.
	HasPath bool
	Mode    string // e.g. "0100755", as the kernel prints it
	OUID    int64
	OGID    int64
	Inode   uint64
	Dev     string // "major:minor" in hex, e.g. "fe:00"

	// Kill family: the target and signal from the syscall arguments, and
	// the OBJ_PID record when present.
	TargetPID  int64
	Signal     int64
	TargetComm string // OBJ_PID ocomm, decoded
	TargetAUID int64
	TargetUID  int64
	TargetSes  int64

	// Incomplete is the event's flag: records may be missing.
	Incomplete bool
}

// IsExec reports whether the event is an execve/execveat.
func (x *Exec) IsExec() bool { return x.Syscall == "execve" || x.Syscall == "execveat" }

// syscallKind classifies a syscall name.
func syscallKind(name string) string {
	switch name {
	case "execve", "execveat":
		return "exec"
	case "fork", "vfork", "clone":
		return "fork"
	case "kill", "tkill", "tgkill":
		return "kill"
	}
	return ""
}

// DecodeExec decodes a process event. ok is false for events that are not
// one (no SYSCALL record, another syscall, a SYSCALL record missing a field
// osquery requires), for failed syscalls (success=no, e.g. the failed
// execve calls of a PATH search) and for clone calls creating a thread.
func DecodeExec(ev Event) (Exec, bool) {
	sc, ok := ev.First(TypeSyscall)
	if !ok {
		return Exec{}, false
	}
	x := Exec{ID: sc.ID(), Serial: ev.Serial, Time: sc.Time, Argc: -1, Incomplete: ev.Incomplete}
	arch, ok1 := sc.Hex("arch")
	nr, ok2 := sc.Int("syscall")
	if !ok1 || !ok2 {
		return Exec{}, false
	}
	x.Arch, x.SyscallNr = Arch(arch), int(nr)
	name, known := SyscallName(x.Arch, x.SyscallNr)
	kind := syscallKind(name)
	if !known || kind == "" {
		return Exec{}, false
	}
	x.Syscall = name
	if s, _ := sc.Get("success"); s != "yes" {
		return Exec{}, false
	}
	x.Success = true
	x.Exit, _ = sc.Int("exit")

	// osquery drops a SYSCALL record missing any of these.
	ints := []struct {
		key string
		dst *int64
	}{
		{"pid", &x.PID}, {"ppid", &x.PPID}, {"uid", &x.UID}, {"auid", &x.AUID},
		{"euid", &x.EUID}, {"fsuid", &x.FSUID}, {"suid", &x.SUID}, {"gid", &x.GID},
		{"egid", &x.EGID}, {"fsgid", &x.FSGID}, {"sgid", &x.SGID},
	}
	for _, f := range ints {
		v, ok := sc.Int(f.key)
		if !ok {
			return Exec{}, false
		}
		*f.dst = v
	}
	if _, ok := sc.Get("exe"); !ok {
		return Exec{}, false
	}
	x.Exe = sc.Decoded("exe")
	x.Comm = sc.Decoded("comm")
	x.Key = sc.Decoded("key")
	x.TTY = sc.Decoded("tty")
	if v, ok := sc.Int("ses"); ok {
		x.Ses = v
	}

	switch kind {
	case "fork":
		flags, _ := sc.Hex("a0")
		if name == "clone" && flags&cloneThread != 0 {
			return Exec{}, false
		}
		caller, callerParent := x.PID, x.PPID
		x.PID = x.Exit
		x.PPID = caller
		if name == "clone" && flags&cloneParent != 0 {
			x.PPID = callerParent
		}
	case "kill":
		a0, _ := sc.Hex("a0")
		a1, _ := sc.Hex("a1")
		a2, _ := sc.Hex("a2")
		// pid_t is a C int: the register holds it sign-extended.
		x.TargetPID = int64(int32(uint32(a0)))
		x.Signal = int64(a1)
		if name == "tgkill" {
			x.Signal = int64(a2)
		}
		if op, ok := ev.First(TypeObjPID); ok {
			if v, ok := op.Int("opid"); ok {
				x.TargetPID = v
			}
			x.TargetComm = op.Decoded("ocomm")
			x.TargetAUID, _ = op.Int("oauid")
			x.TargetUID, _ = op.Int("ouid")
			x.TargetSes, _ = op.Int("oses")
		}
	}

	if kind == "exec" {
		x.Argv, x.Argc, x.ArgvIncomplete = execArgs(&ev)
	}
	if x.Argv == nil && x.Argc < 0 {
		if pt, ok := ev.First(TypeProctitle); ok {
			if args := splitProctitle(pt.Decoded("proctitle")); len(args) > 0 {
				x.Argv, x.ArgvFromProctitle = args, true
			}
		}
	}
	if cwd, ok := ev.First(TypeCwd); ok {
		x.Cwd = cwd.Decoded("cwd")
	}
	if kind == "exec" {
		if p, ok := execPath(&ev); ok {
			x.HasPath = true
			x.Mode, _ = p.Get("mode")
			x.OUID, _ = p.Int("ouid")
			x.OGID, _ = p.Int("ogid")
			if v, ok := p.Get("inode"); ok {
				x.Inode, _ = strconv.ParseUint(v, 10, 64)
			}
			x.Dev, _ = p.Get("dev")
		}
	}
	return x, true
}

// execPath is the PATH record of the executable: item 0, else the first.
func execPath(ev *Event) (*Record, bool) {
	var first *Record
	for i := range ev.Records {
		r := &ev.Records[i]
		if r.Type != TypePath {
			continue
		}
		if v, _ := r.Get("item"); v == "0" {
			return r, true
		}
		if first == nil {
			first = r
		}
	}
	return first, first != nil
}

func splitProctitle(s string) []string {
	s = strings.TrimRight(s, "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

type argParts struct {
	whole    string
	hasWhole bool
	chunks   map[int]string
	encLen   int // length of the encoded text of all chunks
	declLen  int // aN_len, -1 if absent
}

// execArgs reassembles argv from all EXECVE records of the event.
func execArgs(ev *Event) (argv []string, argc int, incomplete bool) {
	argc = -1
	parts := map[int]*argParts{}
	maxIdx := -1
	seen := false
	part := func(i int) *argParts {
		p := parts[i]
		if p == nil {
			p = &argParts{declLen: -1}
			parts[i] = p
		}
		if i > maxIdx {
			maxIdx = i
		}
		return p
	}
	for ri := range ev.Records {
		r := &ev.Records[ri]
		if r.Type != TypeExecve {
			continue
		}
		seen = true
		for _, f := range r.fields {
			if f.Key == "argc" {
				if n, err := strconv.Atoi(f.Value); err == nil && n >= 0 && argc < 0 {
					argc = n
				}
				continue
			}
			idx, suffix, ok := parseArgKey(f.Key)
			if !ok || idx >= maxArgIndex {
				continue
			}
			switch {
			case suffix == "":
				p := part(idx)
				if !p.hasWhole {
					p.whole, p.hasWhole = DecodeString(f.Value), true
				}
			case suffix == "_len":
				if n, err := strconv.Atoi(f.Value); err == nil && n >= 0 {
					part(idx).declLen = n
				}
			case suffix[0] == '[' && suffix[len(suffix)-1] == ']':
				j, err := strconv.Atoi(suffix[1 : len(suffix)-1])
				if err != nil || j < 0 || j >= maxArgIndex {
					continue
				}
				p := part(idx)
				if p.chunks == nil {
					p.chunks = map[int]string{}
				}
				if _, dup := p.chunks[j]; dup {
					continue
				}
				p.chunks[j] = DecodeString(f.Value)
				p.encLen += encodedLen(f.Value)
			}
		}
	}
	if !seen {
		return nil, -1, false
	}
	n := maxIdx + 1
	if argc >= 0 && argc < n {
		n = argc // arguments beyond argc are not arguments
	}
	if argc > n {
		incomplete = true // the records holding the tail are missing
	}
	argv = make([]string, n)
	for i := range n {
		p := parts[i]
		switch {
		case p == nil:
			incomplete = true
		case p.hasWhole:
			argv[i] = p.whole
		case p.chunks != nil:
			// Iterate the chunks present, not 0..max: a hostile index
			// must not cost a loop of its size.
			js := slices.Sorted(maps.Keys(p.chunks))
			var sb strings.Builder
			for k, j := range js {
				if j != k {
					incomplete = true // chunk k is missing
				}
				sb.WriteString(p.chunks[j])
			}
			argv[i] = sb.String()
			if p.declLen >= 0 && p.declLen != p.encLen {
				incomplete = true
			}
		default: // only aN_len
			incomplete = true
		}
	}
	return argv, argc, incomplete
}

// encodedLen is the length aN_len counts for one chunk: the text without
// its quotes.
func encodedLen(v string) int {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return len(v) - 2
	}
	return len(v)
}

// parseArgKey splits "a12", "a12_len", "a12[3]" into 12 and the suffix.
func parseArgKey(k string) (idx int, suffix string, ok bool) {
	if len(k) < 2 || k[0] != 'a' {
		return 0, "", false
	}
	i := 1
	for i < len(k) && k[i] >= '0' && k[i] <= '9' {
		i++
	}
	if i == 1 || i-1 > 7 {
		return 0, "", false
	}
	n, err := strconv.Atoi(k[1:i])
	if err != nil {
		return 0, "", false
	}
	suffix = k[i:]
	if suffix != "" && suffix != "_len" && (len(suffix) < 3 || suffix[0] != '[' || suffix[len(suffix)-1] != ']') {
		return 0, "", false
	}
	return n, suffix, true
}
