package audit

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// RuleSize is the fixed part of struct audit_rule_data; the kernel rejects
// shorter payloads with EINVAL. String values follow it in buf.
const RuleSize = 1040

// Offsets inside struct audit_rule_data.
const (
	ruleOffFlags      = 0
	ruleOffAction     = 4
	ruleOffFieldCount = 8
	ruleOffMask       = 12
	ruleOffFields     = 268
	ruleOffValues     = 524
	ruleOffFieldFlags = 780
	ruleOffBuflen     = 1036

	ruleMaxFields = 64 // AUDIT_MAX_FIELDS
	ruleMaskWords = 64 // AUDIT_BITMASK_SIZE
	// ruleMaxSyscall is the number of syscall bits in the mask.
	ruleMaxSyscall = ruleMaskWords * 32
	// ruleMaxBuf bounds the string buffer we accept when parsing; the
	// kernel's own limit for one string value is PATH_MAX.
	ruleMaxBuf = 64 << 10
	// MaxKeyLen is AUDIT_MAX_KEY_LEN: longer keys are rejected by the kernel.
	MaxKeyLen = 256
)

// Filter lists (struct audit_rule_data.flags). FilterPrepend may be or-ed
// in to put the rule first on its list.
const (
	FilterUser    uint32 = 0
	FilterTask    uint32 = 1
	FilterEntry   uint32 = 2 // obsolete, rejected by current kernels
	FilterWatch   uint32 = 3
	FilterExit    uint32 = 4
	FilterExclude uint32 = 5
	FilterFS      uint32 = 6
	FilterPrepend uint32 = 0x10
)

// Rule actions.
const (
	ActionNever    uint32 = 0
	ActionPossible uint32 = 1
	ActionAlways   uint32 = 2
)

// Rule field identifiers (the subset this package builds and names; others
// round-trip as numbers).
const (
	FieldPID       uint32 = 0
	FieldUID       uint32 = 1
	FieldEUID      uint32 = 2
	FieldAUID      uint32 = 9 // AUDIT_LOGINUID
	FieldArch      uint32 = 11
	FieldPerm      uint32 = 106
	FieldExit      uint32 = 103
	FieldSuccess   uint32 = 104
	FieldWatch     uint32 = 105
	FieldDir       uint32 = 107
	FieldExe       uint32 = 112
	FieldFilterKey uint32 = 210
)

// Rule field operators (struct audit_rule_data.fieldflags).
const (
	OpBitMask            uint32 = 0x08000000
	OpLessThan           uint32 = 0x10000000
	OpGreaterThan        uint32 = 0x20000000
	OpNotEqual           uint32 = 0x30000000
	OpEqual              uint32 = 0x40000000
	OpBitTest            uint32 = 0x48000000
	OpLessThanOrEqual    uint32 = 0x50000000
	OpGreaterThanOrEqual uint32 = 0x60000000
)

var opNames = map[uint32]string{
	OpBitMask: "&", OpLessThan: "<", OpGreaterThan: ">", OpNotEqual: "!=", OpEqual: "=",
	OpBitTest: "&=", OpLessThanOrEqual: "<=", OpGreaterThanOrEqual: ">=",
}

// stringField reports whether the kernel reads field f's value from buf
// (values[i] is then the string's length).
func stringField(f uint32) bool {
	switch {
	case f >= 13 && f <= 17: // AUDIT_SUBJ_USER .. AUDIT_SUBJ_CLR
		return true
	case f >= 19 && f <= 23: // AUDIT_OBJ_USER .. AUDIT_OBJ_LEV_HIGH
		return true
	}
	switch f {
	case FieldWatch, FieldDir, FieldExe, FieldFilterKey:
		return true
	}
	return false
}

// Arch is an AUDIT_ARCH_* value: the ABI a syscall was made through. A
// rule's syscall mask is read in the numbering of its arch field.
type Arch uint32

// The two ABIs an x86_64 kernel runs. A 64-bit process can still enter
// through int 0x80 and be audited as ArchI386.
const (
	ArchX86_64 Arch = 0xc000003e
	ArchI386   Arch = 0x40000003
)

// String gives auditctl's spelling for the arch (b64/b32 on x86), or the
// hex value for an arch this package does not know.
func (a Arch) String() string {
	switch a {
	case ArchX86_64:
		return "b64"
	case ArchI386:
		return "b32"
	}
	return strconv.FormatUint(uint64(a), 16)
}

// Syscall groups, named as osquery's flags group them (§7.1 of the
// behaviour notes).
var (
	ExecSyscalls = []string{"execve", "execveat"}
	ForkSyscalls = []string{"clone", "fork", "vfork"}
	KillSyscalls = []string{"kill", "tkill", "tgkill"}
)

// syscallTables holds the numbers this package needs, per arch. They are
// ABI and never change. i386 numbers come from arch/x86/entry/syscalls/
// syscall_32.tbl, x86_64 from syscall_64.tbl.
var syscallTables = map[Arch]map[string]int{
	ArchX86_64: {
		"clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62,
		"tkill": 200, "tgkill": 234, "execveat": 322,
	},
	ArchI386: {
		"fork": 2, "execve": 11, "kill": 37, "clone": 120, "vfork": 190,
		"tkill": 238, "tgkill": 270, "execveat": 358,
	},
}

// SyscallNumber gives the number of a named syscall in arch's numbering.
func SyscallNumber(arch Arch, name string) (int, bool) {
	nr, ok := syscallTables[arch][name]
	return nr, ok
}

// SyscallName gives the name of syscall nr in arch's numbering, for the
// syscalls this package knows.
func SyscallName(arch Arch, nr int) (string, bool) {
	for name, n := range syscallTables[arch] {
		if n == nr {
			return name, true
		}
	}
	return "", false
}

// RuleField is one condition of a rule. For string fields (the key, paths,
// LSM labels) Str holds the value and Value is ignored by Marshal, which
// writes len(Str) as the kernel expects.
type RuleField struct {
	Field uint32
	Op    uint32
	Value uint32
	Str   string
}

// Rule is struct audit_rule_data: a filter list, an action, a syscall
// bitmask and up to 64 field conditions.
type Rule struct {
	Flags  uint32 // filter list, optionally | FilterPrepend
	Action uint32
	Mask   [ruleMaskWords]uint32
	Fields []RuleField
}

// SyscallRule builds `-a always,exit -F arch=<arch> -S <syscalls> -k key`:
// the exit list, action always, an arch field, the syscalls (numbers in
// arch's numbering) and a key field (omitted if key is empty). Field order
// is auditctl's, so the bytes match what auditctl sends and rules created by
// either can be deleted by the other.
func SyscallRule(arch Arch, syscalls []int, key string) Rule {
	r := Rule{Flags: FilterExit, Action: ActionAlways}
	for _, nr := range syscalls {
		r.SetSyscall(nr)
	}
	r.Fields = append(r.Fields, RuleField{Field: FieldArch, Op: OpEqual, Value: uint32(arch)})
	if key != "" {
		r.Fields = append(r.Fields, RuleField{Field: FieldFilterKey, Op: OpEqual, Str: key})
	}
	return r
}

// SetSyscall adds syscall nr to the mask; numbers outside the mask are
// ignored.
func (r *Rule) SetSyscall(nr int) {
	if nr >= 0 && nr < ruleMaxSyscall {
		r.Mask[nr/32] |= 1 << (nr % 32)
	}
}

// Syscalls lists the syscall numbers set in the mask, ascending.
func (r Rule) Syscalls() []int {
	var out []int
	for nr := 0; nr < ruleMaxSyscall; nr++ {
		if r.Mask[nr/32]&(1<<(nr%32)) != 0 {
			out = append(out, nr)
		}
	}
	return out
}

// AllSyscalls reports whether every bit of the mask is set (-S all).
func (r Rule) AllSyscalls() bool {
	for _, w := range r.Mask {
		if w != ^uint32(0) {
			return false
		}
	}
	return true
}

// Key is the rule's first filter key ("" if none).
func (r Rule) Key() string {
	for _, f := range r.Fields {
		if f.Field == FieldFilterKey {
			return f.Str
		}
	}
	return ""
}

// Arch is the value of the rule's arch field.
func (r Rule) Arch() (Arch, bool) {
	for _, f := range r.Fields {
		if f.Field == FieldArch {
			return Arch(f.Value), true
		}
	}
	return 0, false
}

// Marshal encodes the rule as AUDIT_ADD_RULE/AUDIT_DEL_RULE take it.
func (r Rule) Marshal() ([]byte, error) {
	if len(r.Fields) > ruleMaxFields {
		return nil, fmt.Errorf("audit rule: %d fields, at most %d", len(r.Fields), ruleMaxFields)
	}
	var buf []byte
	for _, f := range r.Fields {
		if stringField(f.Field) {
			if f.Field == FieldFilterKey && len(f.Str) > MaxKeyLen {
				return nil, fmt.Errorf("audit rule: key of %d bytes, at most %d", len(f.Str), MaxKeyLen)
			}
			buf = append(buf, f.Str...)
		}
	}
	if len(buf) > ruleMaxBuf {
		return nil, fmt.Errorf("audit rule: %d bytes of strings, at most %d", len(buf), ruleMaxBuf)
	}
	b := make([]byte, RuleSize+len(buf))
	le := binary.LittleEndian
	le.PutUint32(b[ruleOffFlags:], r.Flags)
	le.PutUint32(b[ruleOffAction:], r.Action)
	le.PutUint32(b[ruleOffFieldCount:], uint32(len(r.Fields)))
	for i, w := range r.Mask {
		le.PutUint32(b[ruleOffMask+4*i:], w)
	}
	for i, f := range r.Fields {
		v := f.Value
		if stringField(f.Field) {
			v = uint32(len(f.Str))
		}
		le.PutUint32(b[ruleOffFields+4*i:], f.Field)
		le.PutUint32(b[ruleOffValues+4*i:], v)
		le.PutUint32(b[ruleOffFieldFlags+4*i:], f.Op)
	}
	le.PutUint32(b[ruleOffBuflen:], uint32(len(buf)))
	copy(b[RuleSize:], buf)
	return b, nil
}

// ParseRule decodes a struct audit_rule_data as AUDIT_LIST_RULES returns it.
// Lengths are checked against the payload, never trusted.
func ParseRule(b []byte) (Rule, error) {
	if len(b) < RuleSize {
		return Rule{}, fmt.Errorf("audit rule: %d bytes, want at least %d", len(b), RuleSize)
	}
	le := binary.LittleEndian
	r := Rule{Flags: le.Uint32(b[ruleOffFlags:]), Action: le.Uint32(b[ruleOffAction:])}
	n := le.Uint32(b[ruleOffFieldCount:])
	if n > ruleMaxFields {
		return Rule{}, fmt.Errorf("audit rule: field_count %d, at most %d", n, ruleMaxFields)
	}
	for i := range r.Mask {
		r.Mask[i] = le.Uint32(b[ruleOffMask+4*i:])
	}
	buflen := le.Uint32(b[ruleOffBuflen:])
	buf := b[RuleSize:]
	if uint64(buflen) > uint64(len(buf)) {
		return Rule{}, fmt.Errorf("audit rule: buflen %d but %d bytes follow", buflen, len(buf))
	}
	buf = buf[:buflen]
	for i := 0; i < int(n); i++ {
		f := RuleField{
			Field: le.Uint32(b[ruleOffFields+4*i:]),
			Value: le.Uint32(b[ruleOffValues+4*i:]),
			Op:    le.Uint32(b[ruleOffFieldFlags+4*i:]),
		}
		if stringField(f.Field) {
			if uint64(f.Value) > uint64(len(buf)) {
				return Rule{}, fmt.Errorf("audit rule: field %d wants %d string bytes, %d left", f.Field, f.Value, len(buf))
			}
			f.Str = string(buf[:f.Value])
			buf = buf[f.Value:]
		}
		r.Fields = append(r.Fields, f)
	}
	return r, nil
}

// Equal reports whether two rules are the same to the kernel (it matches
// AUDIT_DEL_RULE requests this way).
func (r Rule) Equal(o Rule) bool {
	if r.Flags != o.Flags || r.Action != o.Action || r.Mask != o.Mask || len(r.Fields) != len(o.Fields) {
		return false
	}
	for i, f := range r.Fields {
		g := o.Fields[i]
		if f.Field != g.Field || f.Op != g.Op {
			return false
		}
		if stringField(f.Field) {
			if f.Str != g.Str {
				return false
			}
		} else if f.Value != g.Value {
			return false
		}
	}
	return true
}

// String renders the rule roughly as auditctl -l does, for logs and tests.
func (r Rule) String() string {
	var sb strings.Builder
	list := map[uint32]string{FilterUser: "user", FilterTask: "task", FilterEntry: "entry",
		FilterWatch: "watch", FilterExit: "exit", FilterExclude: "exclude", FilterFS: "filesystem"}[r.Flags&^FilterPrepend]
	if list == "" {
		list = strconv.Itoa(int(r.Flags &^ FilterPrepend))
	}
	action := map[uint32]string{ActionNever: "never", ActionPossible: "possible", ActionAlways: "always"}[r.Action]
	if action == "" {
		action = strconv.Itoa(int(r.Action))
	}
	fmt.Fprintf(&sb, "-a %s,%s", action, list)
	arch, hasArch := r.Arch()
	for _, f := range r.Fields {
		if f.Field == FieldArch {
			fmt.Fprintf(&sb, " -F arch%s%s", opName(f.Op), Arch(f.Value))
		}
	}
	switch {
	case r.AllSyscalls():
		sb.WriteString(" -S all")
	default:
		var names []string
		for _, nr := range r.Syscalls() {
			if name, ok := SyscallName(arch, nr); ok && hasArch {
				names = append(names, name)
			} else {
				names = append(names, strconv.Itoa(nr))
			}
		}
		if len(names) > 0 {
			sb.WriteString(" -S " + strings.Join(names, ","))
		}
	}
	for _, f := range r.Fields {
		switch {
		case f.Field == FieldArch:
		case f.Field == FieldFilterKey:
			fmt.Fprintf(&sb, " -F key%s%s", opName(f.Op), f.Str)
		case stringField(f.Field):
			fmt.Fprintf(&sb, " -F %d%s%s", f.Field, opName(f.Op), f.Str)
		default:
			fmt.Fprintf(&sb, " -F %d%s%d", f.Field, opName(f.Op), f.Value)
		}
	}
	return sb.String()
}

func opName(op uint32) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return fmt.Sprintf("?%#x?", op)
}

// syscallNumbers maps names to numbers in arch's numbering, skipping names
// the arch does not have.
func syscallNumbers(arch Arch, names []string) []int {
	var out []int
	for _, n := range names {
		if nr, ok := SyscallNumber(arch, n); ok && !slices.Contains(out, nr) {
			out = append(out, nr)
		}
	}
	slices.Sort(out)
	return out
}
