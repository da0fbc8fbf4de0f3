package audit

import (
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mkEvent(t testing.TB, serial uint64, recs ...struct {
	typ  uint16
	body string
}) Event {
	ev := Event{Serial: serial}
	for _, r := range recs {
		ev.Records = append(ev.Records, mkRec(t, r.typ, serial, r.body))
	}
	ev.Time = ev.Records[0].Time
	return ev
}

type rb = struct {
	typ  uint16
	body string
}

const execSyscall = `arch=c000003e syscall=59 success=yes exit=0 a0=55d1 a1=55d2 a2=55d3 a3=0 items=2 ppid=16109 pid=26259 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="true" exe="/usr/bin/true" key="gosquery"`

// The exec event of the notes (§1.3), record by record.
func notesExecEvent(t testing.TB) Event {
	return mkEvent(t, 7055,
		rb{TypeSyscall, execSyscall},
		rb{TypeBPRMFcaps, "fver=0 fp=0 fi=0 fe=0 old_pp=000001fffeffffff old_pi=0 old_pe=000001fffeffffff old_pa=0 pp=000001fffeffffff pi=0 pe=000001fffeffffff pa=0 frootid=0"},
		rb{TypeExecve, `argc=3 a0="/bin/true" a1="lat" a2="0"`},
		rb{TypeCwd, `cwd="/root/probe"`},
		rb{TypePath, `item=0 name="/bin/true" inode=247849 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`},
		rb{TypePath, `item=1 name="/lib64/ld-linux-x86-64.so.2" inode=1 dev=fe:00 mode=0100644 ouid=5 ogid=6 rdev=00:00 nametype=NORMAL`},
		rb{TypeProctitle, `proctitle=2F62696E2F74727565006C61740030`},
	)
}

func TestDecodeExecNotesEvent(t *testing.T) {
	x, ok := DecodeExec(notesExecEvent(t))
	if !ok {
		t.Fatal("not decoded")
	}
	want := Exec{
		ID: "1795736730.705:7055", Serial: 7055, Time: time.Unix(1795736730, 705e6),
		Syscall: "execve", SyscallNr: 59, Arch: ArchX86_64, Success: true, Exit: 0,
		PID: 26259, PPID: 16109, AUID: 4294967295, Ses: 4294967295,
		Comm: "true", Exe: "/usr/bin/true", Key: "gosquery",
		Argv: []string{"/bin/true", "lat", "0"}, Argc: 3,
		Cwd: "/root/probe", HasPath: true, Mode: "0100755", Inode: 247849, Dev: "fe:00",
	}
	if !reflect.DeepEqual(x, want) {
		t.Errorf("got  %+v\nwant %+v", x, want)
	}
	if !x.IsExec() {
		t.Error("IsExec")
	}
}

func TestDecodeExecArguments(t *testing.T) {
	long := strings.Repeat("x", 40)
	longHex := strings.ToUpper(hex.EncodeToString([]byte(long)))
	// 12 arguments over two records, a10/a11 after a9 (osquery would order
	// them a0,a1,a10,a11,a2 and read only the first record), a hex
	// argument with a space and a quote, a chunked hex argument whose
	// chunks span the records, an empty argument.
	ev := mkEvent(t, 8,
		rb{TypeSyscall, execSyscall},
		rb{TypeExecve, `argc=12 a0="prog" a1=6861732073706163652022717522 a2_len=80 a2[0]=` + longHex[:30] + ` a3=""`},
		rb{TypeExecve, `a2[1]=` + longHex[30:] + ` a4="4" a5="5" a6="6" a7="7" a8="8" a9="9" a10="ten" a11=FF0A`},
	)
	x, ok := DecodeExec(ev)
	if !ok {
		t.Fatal("not decoded")
	}
	want := []string{"prog", `has space "qu"`, long, "", "4", "5", "6", "7", "8", "9", "ten", "\xff\n"}
	if !reflect.DeepEqual(x.Argv, want) || x.ArgvIncomplete || x.Argc != 12 {
		t.Errorf("argv %q incomplete=%v argc=%d", x.Argv, x.ArgvIncomplete, x.Argc)
	}

	// Quoted chunks (an argument split across records without hex).
	ev = mkEvent(t, 9, rb{TypeSyscall, execSyscall},
		rb{TypeExecve, `argc=2 a0="p" a1_len=6 a1[0]="abc"`}, rb{TypeExecve, `a1[1]="def"`})
	if x, _ := DecodeExec(ev); !reflect.DeepEqual(x.Argv, []string{"p", "abcdef"}) || x.ArgvIncomplete {
		t.Errorf("quoted chunks %q %v", x.Argv, x.ArgvIncomplete)
	}

	// argc is respected: a stray a2 is not an argument.
	ev = mkEvent(t, 10, rb{TypeSyscall, execSyscall}, rb{TypeExecve, `argc=2 a0="a" a1="b" a2="c"`})
	if x, _ := DecodeExec(ev); !reflect.DeepEqual(x.Argv, []string{"a", "b"}) || x.ArgvIncomplete {
		t.Errorf("argc: %q", x.Argv)
	}
	// Missing arguments (a lost record) are tolerated and flagged.
	ev = mkEvent(t, 11, rb{TypeSyscall, execSyscall}, rb{TypeExecve, `argc=5 a0="a" a1="b" a3="d"`})
	if x, _ := DecodeExec(ev); !reflect.DeepEqual(x.Argv, []string{"a", "b", "", "d"}) || !x.ArgvIncomplete {
		t.Errorf("missing: %q %v", x.Argv, x.ArgvIncomplete)
	}
	// A missing chunk, a wrong length, a length without data.
	for _, body := range []string{
		`argc=1 a0_len=6 a0[1]="def"`,
		`argc=1 a0_len=7 a0[0]="abc" a0[1]="def"`,
		`argc=1 a0_len=7`,
	} {
		ev = mkEvent(t, 12, rb{TypeSyscall, execSyscall}, rb{TypeExecve, body})
		if x, _ := DecodeExec(ev); !x.ArgvIncomplete || len(x.Argv) != 1 {
			t.Errorf("%s: %q %v", body, x.Argv, x.ArgvIncomplete)
		}
	}
	// argc=0 (execve with an empty argv) is an empty, complete argv.
	ev = mkEvent(t, 13, rb{TypeSyscall, execSyscall}, rb{TypeExecve, `argc=0`}, rb{TypeProctitle, "proctitle=78"})
	if x, _ := DecodeExec(ev); x.Argv == nil || len(x.Argv) != 0 || x.ArgvFromProctitle || x.Argc != 0 {
		t.Errorf("argc=0: %q %v", x.Argv, x.ArgvFromProctitle)
	}
	// Hostile indices and argc do not allocate.
	ev = mkEvent(t, 14, rb{TypeSyscall, execSyscall}, rb{TypeExecve, `argc=4294967295 a0="a" a99999999="b" a1[1000000]="c" a1[99999999]="c" a2[-1]="d" ab="e" a3_len=x`})
	if x, _ := DecodeExec(ev); len(x.Argv) != 2 || !x.ArgvIncomplete || x.Argv[1] != "c" {
		t.Errorf("hostile: %d %q", len(x.Argv), x.Argv)
	}
}

func TestDecodeExecFallbacksAndRejects(t *testing.T) {
	// No EXECVE record: the PROCTITLE is the argv.
	ev := mkEvent(t, 20, rb{TypeSyscall, execSyscall}, rb{TypeCwd, `cwd=2F746D702F612062`}, rb{TypeProctitle, "proctitle=2F62696E2F74727565006C61740030"})
	x, ok := DecodeExec(ev)
	if !ok || !x.ArgvFromProctitle || !reflect.DeepEqual(x.Argv, []string{"/bin/true", "lat", "0"}) || x.Argc != -1 || x.Cwd != "/tmp/a b" || x.HasPath {
		t.Errorf("proctitle: %+v", x)
	}
	// A failed execve (a PATH search miss) is not an exec.
	failed := strings.Replace(strings.Replace(execSyscall, "success=yes", "success=no", 1), "exit=0", "exit=-2", 1)
	if _, ok := DecodeExec(mkEvent(t, 21, rb{TypeSyscall, failed}, rb{TypeCwd, `cwd="/"`})); ok {
		t.Error("failed execve decoded")
	}
	// b32: int 0x80 from a 64-bit process.
	b32 := strings.Replace(strings.Replace(execSyscall, "arch=c000003e", "arch=40000003", 1), "syscall=59", "syscall=11", 1)
	x, ok = DecodeExec(mkEvent(t, 22, rb{TypeSyscall, b32}, rb{TypeExecve, `argc=1 a0="x"`}))
	if !ok || x.Syscall != "execve" || x.Arch != ArchI386 || x.SyscallNr != 11 {
		t.Errorf("b32: %v %+v", ok, x)
	}
	// execveat
	at := strings.Replace(execSyscall, "syscall=59", "syscall=322", 1)
	if x, ok := DecodeExec(mkEvent(t, 23, rb{TypeSyscall, at})); !ok || x.Syscall != "execveat" {
		t.Errorf("execveat: %v %+v", ok, x)
	}
	for name, ev := range map[string]Event{
		"no syscall record": mkEvent(t, 24, rb{TypeExecve, `argc=1 a0="x"`}),
		"other syscall":     mkEvent(t, 25, rb{TypeSyscall, strings.Replace(execSyscall, "syscall=59", "syscall=44", 1)}),
		"no pid":            mkEvent(t, 26, rb{TypeSyscall, strings.Replace(execSyscall, " pid=26259", "", 1)}),
		"no exe":            mkEvent(t, 27, rb{TypeSyscall, strings.Replace(execSyscall, ` exe="/usr/bin/true"`, "", 1)}),
		"no arch":           mkEvent(t, 28, rb{TypeSyscall, strings.Replace(execSyscall, "arch=c000003e ", "", 1)}),
		"unknown arch":      mkEvent(t, 29, rb{TypeSyscall, strings.Replace(execSyscall, "arch=c000003e", "arch=c00000b7", 1)}),
		"no success":        mkEvent(t, 30, rb{TypeSyscall, strings.Replace(execSyscall, "success=yes ", "", 1)}),
	} {
		if _, ok := DecodeExec(ev); ok {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestDecodeForkAndKill(t *testing.T) {
	forkSC := func(nr int, a0 string) string {
		s := strings.Replace(execSyscall, "syscall=59", "syscall="+strconv.Itoa(nr), 1)
		s = strings.Replace(s, "exit=0", "exit=4242", 1)
		return strings.Replace(s, "a0=55d1", "a0="+a0, 1)
	}
	x, ok := DecodeExec(mkEvent(t, 40, rb{TypeSyscall, forkSC(57, "0")}, rb{TypeProctitle, "proctitle=6D616B65002D6A34"}))
	if !ok || x.Syscall != "fork" || x.PID != 4242 || x.PPID != 26259 || !reflect.DeepEqual(x.Argv, []string{"make", "-j4"}) || !x.ArgvFromProctitle || x.HasPath {
		t.Errorf("fork: %v %+v", ok, x)
	}
	x, ok = DecodeExec(mkEvent(t, 41, rb{TypeSyscall, forkSC(56, "1200011")}))
	if !ok || x.Syscall != "clone" || x.PID != 4242 || x.PPID != 26259 {
		t.Errorf("clone: %v %+v", ok, x)
	}
	x, ok = DecodeExec(mkEvent(t, 42, rb{TypeSyscall, forkSC(56, "8000")}))
	if !ok || x.PPID != 16109 {
		t.Errorf("clone CLONE_PARENT: %v %+v", ok, x)
	}
	if _, ok := DecodeExec(mkEvent(t, 43, rb{TypeSyscall, forkSC(56, "3d0f00")})); ok {
		t.Error("thread clone decoded")
	}
	kill := strings.Replace(execSyscall, "syscall=59", "syscall=62", 1)
	kill = strings.Replace(strings.Replace(kill, "a0=55d1", "a0=fffffffffffffff6", 1), "a1=55d2", "a1=f", 1)
	x, ok = DecodeExec(mkEvent(t, 44, rb{TypeSyscall, kill}))
	if !ok || x.Syscall != "kill" || x.TargetPID != -10 || x.Signal != 15 || x.PID != 26259 || x.PPID != 16109 {
		t.Errorf("kill: %v %+v", ok, x)
	}
	tg := strings.Replace(execSyscall, "syscall=59", "syscall=234", 1)
	tg = strings.Replace(strings.Replace(tg, "a0=55d1", "a0=1f4", 1), "a2=55d3", "a2=9", 1)
	x, ok = DecodeExec(mkEvent(t, 45, rb{TypeSyscall, tg}, rb{TypeObjPID, `opid=500 oauid=1000 ouid=1000 oses=3 obj=unconfined ocomm="sleep"`}))
	if !ok || x.Syscall != "tgkill" || x.TargetPID != 500 || x.Signal != 9 || x.TargetComm != "sleep" || x.TargetUID != 1000 || x.TargetAUID != 1000 || x.TargetSes != 3 {
		t.Errorf("tgkill: %v %+v", ok, x)
	}
}

// FuzzDecodeExec decodes events built from arbitrary record bodies: one
// record per line, the first byte of a line choosing its type.
func FuzzDecodeExec(f *testing.F) {
	f.Add("\x00" + execSyscall + "\n\x01argc=3 a0=\"a\" a1_len=4 a1[0]=4142 a1[1]=4344 a2=\"c\"\n\x02cwd=\"/\"\n\x03item=0 mode=0100755 inode=1\n\x04proctitle=4100")
	f.Add("\x00" + strings.Replace(execSyscall, "syscall=59", "syscall=56", 1) + "\n\x05opid=1")
	f.Fuzz(func(t *testing.T, s string) {
		types := []uint16{TypeSyscall, TypeExecve, TypeCwd, TypePath, TypeProctitle, TypeObjPID}
		ev := Event{Serial: 1}
		for _, line := range strings.Split(s, "\n") {
			if line == "" {
				continue
			}
			r, err := ParseRecord(types[int(line[0])%len(types)], []byte("audit(1.000:1): "+line[1:]))
			if err != nil {
				t.Fatal(err)
			}
			ev.Records = append(ev.Records, r)
		}
		x, ok := DecodeExec(ev)
		if !ok {
			return
		}
		if x.Argc >= 0 && len(x.Argv) > x.Argc {
			t.Fatalf("%d args for argc %d", len(x.Argv), x.Argc)
		}
		if len(x.Argv) > maxArgIndex {
			t.Fatalf("%d args", len(x.Argv))
		}
	})
}
