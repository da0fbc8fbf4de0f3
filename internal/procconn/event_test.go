package procconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// capture is one testdata file: datagrams received from the kernel on this
// machine (see TestCapture), with the pids of the processes the capture
// spawned.
type capture struct {
	meta      map[string]int32
	datagrams [][]byte
}

// loadCapture reads testdata/<name>.hex: "# meta key=pid ..." lines, other
// "#" comments, and one hex-encoded datagram per line.
func loadCapture(t testing.TB, name string) capture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	c := capture{meta: map[string]int32{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# meta "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				n, err := strconv.ParseInt(v, 10, 32)
				if err != nil {
					t.Fatalf("%s: bad meta %q", name, kv)
				}
				c.meta[k] = int32(n)
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		d, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.datagrams = append(c.datagrams, d)
	}
	if len(c.datagrams) == 0 {
		t.Fatalf("%s: no datagrams", name)
	}
	return c
}

// events parses every datagram of a capture, failing on any error.
func (c capture) events(t testing.TB) []Event {
	t.Helper()
	var all []Event
	for i, d := range c.datagrams {
		evs, err := ParseMessage(d)
		if err != nil {
			t.Fatalf("datagram %d (% x): %v", i, d, err)
		}
		if len(evs) != 1 {
			t.Fatalf("datagram %d: %d events, the kernel sends one per datagram", i, len(evs))
		}
		all = append(all, evs...)
	}
	return all
}

func (c capture) pid(t testing.TB, k string) int32 {
	t.Helper()
	v, ok := c.meta[k]
	if !ok || v <= 0 {
		t.Fatalf("capture has no meta %q", k)
	}
	return v
}

func TestParseCapturedTree(t *testing.T) {
	c := loadCapture(t, "tree")
	for i, d := range c.datagrams {
		// The measured framing: 16 + 20 + 40 bytes, nlmsg_len = 76.
		if len(d) != 76 || binary.NativeEndian.Uint32(d) != 76 {
			t.Errorf("datagram %d: %d bytes, nlmsg_len %d; want 76", i, len(d), binary.NativeEndian.Uint32(d))
		}
	}
	checkTree(t, c.events(t), c.pid(t, "go"), c.pid(t, "sh"))
}

func TestParseCapturedExitCodes(t *testing.T) {
	c := loadCapture(t, "exitcodes")
	checkExitCodes(t, c.events(t), c.pid(t, "exit3"), c.pid(t, "killed"))
}

func TestParseCapturedThreads(t *testing.T) {
	c := loadCapture(t, "threads")
	checkThreads(t, c.events(t), c.pid(t, "go"), c.pid(t, "helper"))
}

func TestParseCapturedUnfiltered(t *testing.T) {
	c := loadCapture(t, "unfiltered")
	checkUnfiltered(t, c.events(t), c.pid(t, "cred"), c.pid(t, "comm"), uint32(c.pid(t, "ack")))
}

// find returns the events matching f.
func find(evs []Event, f func(Event) bool) []Event {
	var out []Event
	for _, ev := range evs {
		if f(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// one returns the single event matching f, failing if there is not exactly
// one.
func one(t testing.TB, evs []Event, what string, f func(Event) bool) Event {
	t.Helper()
	m := find(evs, f)
	if len(m) != 1 {
		t.Fatalf("%s: %d matching events, want 1: %+v", what, len(m), m)
	}
	return m[0]
}

// checkTree checks the events of `sh -c 'sleep 0.05 & wait'` spawned by
// process goPID as shPID: go forks sh, sh execs, sh forks sleep, sleep
// execs and exits, sh exits; all in that order, none of them threads.
func checkTree(t testing.TB, evs []Event, goPID, shPID int32) {
	t.Helper()
	fsh := one(t, evs, "fork of sh", func(e Event) bool { return e.Kind == Fork && e.ChildTGID == shPID })
	if fsh.ParentTGID != goPID || fsh.ChildPID != shPID || fsh.PID != shPID || fsh.TGID != shPID || fsh.IsThread() {
		t.Errorf("fork of sh: %+v, want parent tgid %d, child %d", fsh, goPID, shPID)
	}
	xsh := one(t, evs, "exec of sh", func(e Event) bool { return e.Kind == Exec && e.TGID == shPID })
	forks := find(evs, func(e Event) bool { return e.Kind == Fork && e.ParentTGID == shPID })
	if len(forks) != 1 {
		t.Fatalf("sh forked %d times, want 1 (sleep): %+v", len(forks), forks)
	}
	fc := forks[0]
	child := fc.ChildTGID
	if fc.IsThread() || fc.ChildPID != child || child == shPID || fc.ParentPID != shPID {
		t.Errorf("fork of sleep: %+v", fc)
	}
	xc := one(t, evs, "exec of sleep", func(e Event) bool { return e.Kind == Exec && e.TGID == child })
	if xc.PID != child || xc.IsThread() {
		t.Errorf("exec of sleep: %+v", xc)
	}
	ec := one(t, evs, "exit of sleep", func(e Event) bool { return e.Kind == Exit && e.TGID == child })
	// The parent of an exit is 0 when the parent reaped the child before
	// the kernel sent the event.
	if ec.PID != child || ec.ExitCode != 0 || ec.ExitSignal != 17 || (ec.ParentTGID != shPID && ec.ParentTGID != 0) || ec.IsThread() {
		t.Errorf("exit of sleep: %+v, want code 0, signal SIGCHLD, parent %d", ec, shPID)
	}
	esh := one(t, evs, "exit of sh", func(e Event) bool { return e.Kind == Exit && e.TGID == shPID })
	if esh.ExitCode != 0 || (esh.ParentTGID != goPID && esh.ParentTGID != 0) || !esh.WaitStatus().Exited() || esh.WaitStatus().ExitStatus() != 0 {
		t.Errorf("exit of sh: %+v", esh)
	}
	order := []Event{fsh, xsh, fc, xc, ec, esh}
	for i := 1; i < len(order); i++ {
		if order[i].MonotonicNS < order[i-1].MonotonicNS {
			t.Errorf("event %d (%s) at %d is before event %d (%s) at %d", i, order[i].Kind, order[i].MonotonicNS, i-1, order[i-1].Kind, order[i-1].MonotonicNS)
		}
	}
	// sleep 0.05 lived at least 50 ms between exec and exit.
	if d := ec.MonotonicNS - xc.MonotonicNS; d < 50e6 || d > 5e9 {
		t.Errorf("sleep 0.05 ran for %d ns", d)
	}
	for _, e := range order {
		// A Listener adds the suspend offset, zero on a machine that never
		// suspended; captured datagrams are parsed raw.
		if e.Ticks != e.MonotonicNS/nsPerTick && e.Ticks != uint64(int64(e.MonotonicNS)+measureSuspendOffset())/nsPerTick {
			t.Errorf("%s: ticks %d for %d ns", e.Kind, e.Ticks, e.MonotonicNS)
		}
		if e.CPU > 4096 {
			t.Errorf("%s: cpu %d", e.Kind, e.CPU)
		}
	}
}

// checkExitCodes checks `sh -c 'exit 3'` (pid exit3) and a sleep killed by
// SIGKILL (pid killed).
func checkExitCodes(t testing.TB, evs []Event, exit3, killed int32) {
	t.Helper()
	e3 := one(t, evs, "exit 3", func(e Event) bool { return e.Kind == Exit && e.TGID == exit3 })
	ws := e3.WaitStatus()
	if e3.ExitCode != 3<<8 || !ws.Exited() || ws.ExitStatus() != 3 || ws.Signaled() || ws.Signal() != -1 || e3.ExitSignal != 17 {
		t.Errorf("exit 3: %+v (exited %v status %d)", e3, ws.Exited(), ws.ExitStatus())
	}
	ek := one(t, evs, "SIGKILL", func(e Event) bool { return e.Kind == Exit && e.TGID == killed })
	ws = ek.WaitStatus()
	if ek.ExitCode != 9 || ws.Exited() || ws.ExitStatus() != -1 || !ws.Signaled() || ws.Signal() != 9 || ws.CoreDump() {
		t.Errorf("SIGKILL: %+v", ek)
	}
}

// checkThreads checks the thread helper (pid helper, child of goPID): its
// threads are forks with child pid != tgid that the kernel reports as
// children of the helper's parent (CLONE_THREAD takes the creator's parent),
// and their exits are non-leader exits with exit_signal -1.
func checkThreads(t testing.TB, evs []Event, goPID, helper int32) {
	t.Helper()
	f := one(t, evs, "fork of helper", func(e Event) bool { return e.Kind == Fork && e.PID == helper })
	if f.IsThread() || f.ParentTGID != goPID {
		t.Errorf("fork of helper: %+v", f)
	}
	tf := find(evs, func(e Event) bool { return e.Kind == Fork && e.ChildTGID == helper && e.ChildPID != helper })
	if len(tf) < 4 {
		t.Fatalf("%d thread forks, want at least 4", len(tf))
	}
	for _, e := range tf {
		if !e.IsThread() || e.ParentTGID != goPID {
			t.Errorf("thread fork %+v: want IsThread and parent tgid %d (the helper's parent)", e, goPID)
		}
	}
	te := find(evs, func(e Event) bool { return e.Kind == Exit && e.TGID == helper && e.PID != helper })
	if len(te) < 4 {
		t.Fatalf("%d thread exits, want at least 4", len(te))
	}
	for _, e := range te {
		if !e.IsThread() || e.ExitSignal != -1 {
			t.Errorf("thread exit %+v: want IsThread and exit signal -1", e)
		}
	}
	le := one(t, evs, "exit of helper", func(e Event) bool { return e.Kind == Exit && e.PID == helper })
	if le.IsThread() || le.ExitSignal != 17 || (le.ParentTGID != goPID && le.ParentTGID != 0) || le.WaitStatus().ExitStatus() != 0 {
		t.Errorf("exit of helper: %+v", le)
	}
}

// checkUnfiltered checks what only an unfiltered subscriber sees: the ack
// to the request with ack number ack; the SID, GID and UID events of a child that calls setsid,
// setgid(65534) and setuid(65534) before exec (pid cred); the COMM event of
// the helper renaming itself (pid comm).
func checkUnfiltered(t testing.TB, evs []Event, cred, comm int32, ack uint32) {
	t.Helper()
	a := one(t, evs, "ack", func(e Event) bool { return e.Kind == Ack && e.AckNum == ack+1 })
	if a.Err != 0 || a.PID != 0 || a.TGID != 0 {
		t.Errorf("ack: %+v", a)
	}
	for _, k := range []Kind{SID, GID, UID, Exec} {
		e := one(t, evs, k.String(), func(e Event) bool { return e.Kind == k && e.TGID == cred })
		if e.PID != cred {
			t.Errorf("%s: %+v", k, e)
		}
	}
	one(t, evs, "comm", func(e Event) bool { return e.Kind == Comm && e.TGID == comm })
}

// datagram builds a netlink message carrying one proc_event, as the kernel
// does.
func datagram(kind Kind, seq uint32, data ...uint32) []byte {
	b := make([]byte, nlmsgHdrLen+cnMsgLen+procEventLen)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], nlmsgDone)
	binary.NativeEndian.PutUint32(b[8:], seq)
	c := b[nlmsgHdrLen:]
	binary.NativeEndian.PutUint32(c[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(c[4:], cnValProc)
	binary.NativeEndian.PutUint32(c[8:], seq)
	binary.NativeEndian.PutUint16(c[16:], procEventLen)
	p := c[cnMsgLen:]
	binary.NativeEndian.PutUint32(p[0:], uint32(kind))
	binary.NativeEndian.PutUint32(p[4:], 1)
	binary.NativeEndian.PutUint64(p[8:], 123_456_789_012)
	for i, v := range data {
		binary.NativeEndian.PutUint32(p[16+4*i:], v)
	}
	return b
}

func TestParseHandMade(t *testing.T) {
	ev := func(b []byte) Event {
		t.Helper()
		evs, err := ParseMessage(b)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%v, %d events", err, len(evs))
		}
		return evs[0]
	}
	f := ev(datagram(Fork, 7, 100, 100, 201, 200))
	want := Event{Kind: Fork, CPU: 1, Seq: 7, MonotonicNS: 123_456_789_012, BootNS: 123_456_789_012, Ticks: 12345,
		PID: 201, TGID: 200, ParentPID: 100, ParentTGID: 100, ChildPID: 201, ChildTGID: 200}
	if f != want {
		t.Errorf("fork:\n got %+v\nwant %+v", f, want)
	}
	if !f.IsThread() {
		t.Error("fork of 201 in 200 is a thread")
	}
	e := ev(datagram(Exit, 8, 300, 300, 0x86, 0xffffffff, 0, 0))
	if e.PID != 300 || e.ExitSignal != -1 || !e.WaitStatus().CoreDump() || e.WaitStatus().Signal() != 6 || e.ParentTGID != 0 {
		t.Errorf("exit: %+v", e)
	}
	c := ev(datagram(Coredump, 9, 400, 401, 1, 1))
	if c.PID != 400 || c.TGID != 401 || c.ParentTGID != 1 {
		t.Errorf("coredump: %+v", c)
	}
	u := ev(datagram(Kind(0x400), 9, 500, 500))
	if u.Kind.String() != "kind(0x400)" || u.PID != 500 {
		t.Errorf("unknown kind: %+v %s", u, u.Kind)
	}
	a := ev(datagram(Ack, 5, 1))
	if a.Kind != Ack || a.Err != 1 || a.Seq != 5 {
		t.Errorf("ack: %+v", a)
	}

	// Two messages in one datagram, and a NOOP between them.
	noop := make([]byte, 16)
	binary.NativeEndian.PutUint32(noop, 16)
	binary.NativeEndian.PutUint16(noop[4:], nlmsgNoop)
	multi := joinBytes(datagram(Exec, 1, 10, 10), noop, datagram(Exec, 2, 11, 11))
	evs, err := ParseMessage(multi)
	if err != nil || len(evs) != 2 || evs[0].PID != 10 || evs[1].PID != 11 {
		t.Errorf("multi: %v %+v", err, evs)
	}

	// A short cn_msg length for EXEC is fine (8 bytes of data), for EXIT
	// it is not.
	short := datagram(Exec, 1, 12, 12)
	binary.NativeEndian.PutUint16(short[nlmsgHdrLen+16:], procEventHdrLen+8)
	if e := ev(short); e.PID != 12 {
		t.Errorf("short exec: %+v", e)
	}
}

func joinBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseHostile(t *testing.T) {
	good := datagram(Fork, 1, 1, 1, 2, 2)
	set32 := func(b []byte, off int, v uint32) []byte {
		b = bytes.Clone(b)
		binary.NativeEndian.PutUint32(b[off:], v)
		return b
	}
	set16 := func(b []byte, off int, v uint16) []byte {
		b = bytes.Clone(b)
		binary.NativeEndian.PutUint16(b[off:], v)
		return b
	}
	cases := map[string]struct {
		in   []byte
		want int // events
	}{
		"empty":               {nil, 0},
		"nlmsg_len huge":      {set32(good, 0, 0xffffffff), 0},
		"nlmsg_len zero":      {set32(good, 0, 0), 0},
		"nlmsg_len 15":        {set32(good, 0, 15), 0},
		"nlmsg_len 16":        {set32(good, 0, 16), 0},
		"cn len huge":         {set16(good, 16+16, 0xffff), 0},
		"cn len too small":    {set16(good, 16+16, 10), 0},
		"exit data short":     {set16(datagram(Exit, 1, 5, 5), 16+16, procEventHdrLen+12), 0},
		"not proc connector":  {set32(good, 16, 2), 0},
		"netlink error":       {set16(good, 4, nlmsgError), 0},
		"unknown type":        {set16(good, 4, 0x10), 0},
		"trailing garbage":    {joinBytes(good, []byte{1, 2, 3}), 1},
		"bad then good":       {joinBytes(set32(good, 16, 9), good), 1},
		"good then truncated": {joinBytes(good, good[:40]), 1},
	}
	for name, tc := range cases {
		evs, err := ParseMessage(tc.in)
		if len(evs) != tc.want {
			t.Errorf("%s: %d events, want %d", name, len(evs), tc.want)
		}
		if name != "empty" && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
	// Every truncation of a real datagram fails cleanly.
	captured := loadCapture(t, "tree").datagrams[0]
	for n := range len(captured) {
		evs, err := ParseMessage(captured[:n])
		if n > 0 && (err == nil || len(evs) != 0) {
			t.Errorf("truncated to %d: %v, %d events", n, err, len(evs))
		}
	}
	// The last message's alignment padding may be missing.
	odd := datagram(Exec, 1, 3, 3)
	odd = set32(odd, 0, uint32(len(odd)-1))[:len(odd)-1]
	odd = set16(odd, 16+16, procEventLen-1)
	if evs, err := ParseMessage(odd); err != nil || len(evs) != 1 || evs[0].PID != 3 {
		t.Errorf("unaligned last message: %v %+v", err, evs)
	}
}

func TestAppendMessageReuses(t *testing.T) {
	d := datagram(Exec, 1, 3, 3)
	buf := make([]Event, 0, 4)
	out, err := AppendMessage(buf, d)
	if err != nil || len(out) != 1 || &out[0] != &buf[:1][0] {
		t.Errorf("AppendMessage did not append in place: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { out, _ = AppendMessage(buf[:0], d) }); n != 0 {
		t.Errorf("%v allocations per parse", n)
	}
}

func TestSubscribeMessage(t *testing.T) {
	// PROC_CN_MCAST_LISTEN: 16 + 20 + 4 bytes, as in the measured notes.
	b := subscribeMessage(procCnMcastListen, 0, 5, 0, 77)
	want := []uint32{40, nlmsgDone, 5, 77, 1, 1, 5, 0}
	for i, w := range want {
		var got uint32
		if i == 1 {
			got = uint32(binary.NativeEndian.Uint16(b[4:]))
		} else {
			got = binary.NativeEndian.Uint32(b[4*i:])
		}
		if got != w {
			t.Errorf("word %d = %d, want %d", i, got, w)
		}
	}
	if len(b) != 40 || binary.NativeEndian.Uint16(b[32:]) != 4 || binary.NativeEndian.Uint32(b[36:]) != 1 {
		t.Errorf("listen payload: % x", b)
	}
	// struct proc_input {op, mask}.
	b = subscribeMessage(procCnMcastListen, subscribeMask, 5, 0, 77)
	if len(b) != 44 || binary.NativeEndian.Uint16(b[32:]) != 8 || binary.NativeEndian.Uint32(b[40:]) != 0x80000003 {
		t.Errorf("filter payload: % x", b)
	}
	b = subscribeMessage(procCnMcastIgnore, 0, 5, 0, 77)
	if binary.NativeEndian.Uint32(b[36:]) != 2 {
		t.Errorf("ignore payload: % x", b)
	}
}

func TestParseRelease(t *testing.T) {
	for in, want := range map[string][3]int{
		"6.18.44-fc-v595":   {6, 18, 1},
		"6.6.0":             {6, 6, 1},
		"5.15.0-91-generic": {5, 15, 1},
		"4.9":               {4, 9, 1},
		"6":                 {0, 0, 0},
		"x.1":               {0, 0, 0},
		"":                  {0, 0, 0},
		"99999999.1":        {0, 0, 0},
	} {
		ma, mi, ok := parseRelease(in)
		if ma != want[0] || mi != want[1] || ok != (want[2] == 1) {
			t.Errorf("parseRelease(%q) = %d, %d, %v", in, ma, mi, ok)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, s := range map[Kind]string{Ack: "ack", Fork: "fork", Exec: "exec", Exit: "exit", UID: "uid", GID: "gid",
		SID: "sid", Ptrace: "ptrace", Comm: "comm", Coredump: "coredump", NonzeroExit: "nonzero_exit"} {
		if k.String() != s {
			t.Errorf("%#x: %q", uint32(k), k.String())
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, name := range []string{"tree", "exitcodes", "threads", "unfiltered"} {
		for _, d := range loadCapture(f, name).datagrams {
			f.Add(d)
		}
	}
	f.Add(joinBytes(datagram(Exec, 1, 10, 10), datagram(Exit, 2, 10, 10, 0, 17, 1, 1)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := ParseMessage(b)
		// Each event needs at least headers plus a proc_event header.
		if len(evs) > len(b)/(nlmsgHdrLen+cnMsgLen+procEventHdrLen) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		for _, e := range evs {
			if e.Ticks != e.MonotonicNS/nsPerTick {
				t.Fatalf("ticks %d for %d ns", e.Ticks, e.MonotonicNS)
			}
			_ = e.Kind.String()
			_ = e.WaitStatus().Signal()
		}
	})
}

// BenchmarkAppendMessage is the parse cost per event (the kernel sends one
// event per datagram), reusing the slice as Run does.
func BenchmarkAppendMessage(b *testing.B) {
	d := loadCapture(b, "tree").datagrams[0]
	buf := make([]Event, 0, 4)
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendMessage(buf[:0], d)
	}
}

// BenchmarkParseMessage is the same with a fresh slice per datagram.
func BenchmarkParseMessage(b *testing.B) {
	d := loadCapture(b, "tree").datagrams[0]
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseMessage(d)
	}
}

// BenchmarkDeliver is Run's per-event work after the channel: parse,
// count, the suspend-offset check and the callback.
func BenchmarkDeliver(b *testing.B) {
	d := loadCapture(b, "tree").datagrams[0]
	l := &Listener{}
	n := 0
	fn := func(Event) { n++ }
	b.ReportAllocs()
	for b.Loop() {
		l.deliver(d, fn)
	}
	if n == 0 {
		b.Fatal("nothing delivered")
	}
}
