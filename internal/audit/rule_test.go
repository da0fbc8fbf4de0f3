package audit

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// auditctlLayout builds, field by field from the offsets in the notes
// (§1.1), the bytes auditctl sends for
// `-a always,exit -F arch=<arch> -S <nrs> -k <key>`.
func auditctlLayout(arch uint32, nrs []int, key string) []byte {
	b := make([]byte, 1040+len(key))
	le := binary.LittleEndian
	le.PutUint32(b[0:], 4)   // flags: AUDIT_FILTER_EXIT
	le.PutUint32(b[4:], 2)   // action: AUDIT_ALWAYS
	le.PutUint32(b[8:], 2)   // field_count
	for _, nr := range nrs { // mask[nr/32] |= 1<<(nr%32), mask at 12
		o := 12 + 4*(nr/32)
		le.PutUint32(b[o:], le.Uint32(b[o:])|1<<(nr%32))
	}
	le.PutUint32(b[268:], 11)                // fields[0] = AUDIT_ARCH
	le.PutUint32(b[272:], 210)               // fields[1] = AUDIT_FILTERKEY
	le.PutUint32(b[524:], arch)              // values[0]
	le.PutUint32(b[528:], uint32(len(key)))  // values[1] = strlen(key)
	le.PutUint32(b[780:], 0x40000000)        // fieldflags[0] = AUDIT_EQUAL
	le.PutUint32(b[784:], 0x40000000)        // fieldflags[1]
	le.PutUint32(b[1036:], uint32(len(key))) // buflen
	copy(b[1040:], key)                      // buf: the key, no NUL
	return b
}

func TestSyscallRuleMatchesAuditctl(t *testing.T) {
	const key = "goagent-exec"
	for _, c := range []struct {
		arch Arch
		nrs  []int
	}{
		{ArchX86_64, []int{59, 322}}, // b64 execve, execveat
		{ArchI386, []int{11, 358}},   // b32 numbering
	} {
		nrs := syscallNumbers(c.arch, ExecSyscalls)
		if len(nrs) != 2 || nrs[0] != c.nrs[0] || nrs[1] != c.nrs[1] {
			t.Fatalf("%v exec syscalls %v, want %v", c.arch, nrs, c.nrs)
		}
		got, err := SyscallRule(c.arch, nrs, key).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want := auditctlLayout(uint32(c.arch), c.nrs, key)
		if !bytes.Equal(got, want) {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%v: first difference at offset %d: %#x, want %#x", c.arch, i, got[i], want[i])
				}
			}
			t.Fatalf("%v: lengths %d, %d", c.arch, len(got), len(want))
		}
		r, err := ParseRule(got)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Equal(SyscallRule(c.arch, nrs, key)) || r.Key() != key {
			t.Errorf("parse: %+v", r)
		}
		if a, ok := r.Arch(); !ok || a != c.arch {
			t.Errorf("arch %v", a)
		}
		if s := r.Syscalls(); len(s) != 2 || s[0] != c.nrs[0] || s[1] != c.nrs[1] {
			t.Errorf("syscalls %v", s)
		}
	}
	want64 := "-a always,exit -F arch=b64 -S execve,execveat -F key=goagent-exec"
	if s := SyscallRule(ArchX86_64, []int{59, 322}, key).String(); s != want64 {
		t.Errorf("String: %q, want %q", s, want64)
	}
	if s := SyscallRule(ArchI386, []int{11, 358}, key).String(); s != strings.Replace(want64, "b64", "b32", 1) {
		t.Errorf("String b32: %q", s)
	}
}

func TestSyscallNumbers(t *testing.T) {
	want := map[Arch]map[string]int{
		ArchX86_64: {"execve": unix.SYS_EXECVE, "execveat": unix.SYS_EXECVEAT, "clone": unix.SYS_CLONE,
			"fork": unix.SYS_FORK, "vfork": unix.SYS_VFORK, "kill": unix.SYS_KILL, "tkill": unix.SYS_TKILL,
			"tgkill": unix.SYS_TGKILL},
		// i386 numbers from arch/x86/entry/syscalls/syscall_32.tbl.
		ArchI386: {"fork": 2, "execve": 11, "kill": 37, "clone": 120, "vfork": 190, "tkill": 238, "tgkill": 270, "execveat": 358},
	}
	for arch, m := range want {
		for name, nr := range m {
			if got, ok := SyscallNumber(arch, name); !ok || got != nr {
				t.Errorf("%v %s = %d, want %d", arch, name, got, nr)
			}
			if got, ok := SyscallName(arch, nr); !ok || got != name {
				t.Errorf("%v %d = %q, want %s", arch, nr, got, name)
			}
		}
	}
	if _, ok := SyscallName(ArchX86_64, 9999); ok {
		t.Error("unknown number named")
	}
	// The rule for fork+kill in each numbering.
	r := SyscallRule(ArchI386, syscallNumbers(ArchI386, append(ForkSyscalls, KillSyscalls...)), "")
	if got := r.String(); got != "-a always,exit -F arch=b32 -S fork,kill,clone,vfork,tkill,tgkill" {
		t.Errorf("%s", got)
	}
	if r.Key() != "" || len(r.Fields) != 1 {
		t.Errorf("keyless rule fields %+v", r.Fields)
	}
}

func TestRuleMarshalErrors(t *testing.T) {
	r := SyscallRule(ArchX86_64, []int{59}, strings.Repeat("k", MaxKeyLen+1))
	if _, err := r.Marshal(); err == nil {
		t.Error("over-long key accepted")
	}
	r = Rule{Fields: make([]RuleField, 65)}
	if _, err := r.Marshal(); err == nil {
		t.Error("65 fields accepted")
	}
	r = Rule{}
	r.SetSyscall(-1)
	r.SetSyscall(2048)
	if len(r.Syscalls()) != 0 {
		t.Error("out-of-range syscalls set")
	}
	for i := range r.Mask {
		r.Mask[i] = ^uint32(0)
	}
	if !r.AllSyscalls() || !strings.Contains(r.String(), "-S all") {
		t.Errorf("all: %s", r.String())
	}
}

func TestParseRuleHostile(t *testing.T) {
	good, _ := SyscallRule(ArchX86_64, []int{59, 322}, "key").Marshal()
	le := binary.LittleEndian
	mut := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		le.PutUint32(b[off:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"short":               good[:1039],
		"field_count 65":      mut(8, 65),
		"buflen too big":      mut(1036, 4),
		"buflen huge":         mut(1036, 0xffffffff),
		"key longer than buf": mut(528, 4),
		"truncated buf":       good[:1041],
	} {
		if _, err := ParseRule(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An unknown numeric field round-trips.
	r := Rule{Flags: FilterExit | FilterPrepend, Action: ActionNever, Fields: []RuleField{{Field: 999, Op: OpGreaterThan, Value: 7}, {Field: FieldExe, Op: OpEqual, Str: "/bin/x"}}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRule(b)
	if err != nil || !back.Equal(r) {
		t.Errorf("round trip %+v %v", back, err)
	}
	if s := back.String(); s != "-a never,exit -F 999>7 -F 112=/bin/x" {
		t.Errorf("String %q", s)
	}
}

// ruleFromCompact spreads a short fuzz input over a struct audit_rule_data:
// header, two mask words, the first four fields, buflen, then the buffer.
// Inputs stay small (the fuzzing engine is slow with kilobyte inputs)
// while every length the parser must not trust is fuzzed.
func ruleFromCompact(b []byte) []byte {
	full := make([]byte, RuleSize)
	take := func(n int) []byte {
		n = min(n, len(b))
		x := b[:n]
		b = b[n:]
		return x
	}
	copy(full[0:12], take(12))
	copy(full[12:20], take(8))
	for i := 0; i < 4; i++ {
		copy(full[ruleOffFields+4*i:], take(4))
		copy(full[ruleOffValues+4*i:], take(4))
		copy(full[ruleOffFieldFlags+4*i:], take(4))
	}
	copy(full[ruleOffBuflen:], take(4))
	return append(full, b...)
}

func compactFromRule(r []byte) []byte {
	var b []byte
	b = append(b, r[0:20]...)
	for i := 0; i < 4; i++ {
		b = append(b, r[ruleOffFields+4*i:ruleOffFields+4*i+4]...)
		b = append(b, r[ruleOffValues+4*i:ruleOffValues+4*i+4]...)
		b = append(b, r[ruleOffFieldFlags+4*i:ruleOffFieldFlags+4*i+4]...)
	}
	b = append(b, r[ruleOffBuflen:]...)
	return b
}

func FuzzParseRule(f *testing.F) {
	good, _ := SyscallRule(ArchX86_64, []int{59, 60}, "key").Marshal()
	if !bytes.Equal(ruleFromCompact(compactFromRule(good)), good) {
		f.Fatal("compact encoding does not round-trip")
	}
	f.Add(compactFromRule(good))
	f.Add([]byte{4, 0, 0, 0, 2, 0, 0, 0, 65})
	f.Fuzz(func(t *testing.T, compact []byte) {
		b := ruleFromCompact(compact)
		r, err := ParseRule(b)
		if err != nil {
			return
		}
		_ = r.String()
		out, err := r.Marshal()
		if err != nil {
			return
		}
		back, err := ParseRule(out)
		if err != nil || !back.Equal(r) {
			t.Fatalf("re-marshalled rule does not parse back: %v", err)
		}
	})
}
