package audit

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

func mkRec(t testing.TB, typ uint16, serial uint64, body string) Record {
	t.Helper()
	r, err := ParseRecord(typ, []byte(fmt.Sprintf("audit(1795736730.705:%d): %s", serial, body)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type collector struct{ evs []Event }

func (c *collector) emit(ev Event) { c.evs = append(c.evs, ev) }

func TestReassemblerGroupsBySerialUntilEOE(t *testing.T) {
	var c collector
	r := NewReassembler(ReassemblerConfig{}, c.emit)
	now := time.Unix(1000, 0)
	// Two events interleaved, as records of events on two CPUs can be.
	r.Push(mkRec(t, TypeSyscall, 10, "syscall=59 success=yes pid=1"), now)
	r.Push(mkRec(t, TypeSyscall, 11, "syscall=59 success=yes pid=2"), now)
	r.Push(mkRec(t, TypeExecve, 10, `argc=1 a0="x"`), now)
	r.Push(mkRec(t, TypeEOE, 11, ""), now)
	r.Push(mkRec(t, TypeCwd, 10, `cwd="/"`), now)
	if len(c.evs) != 1 || c.evs[0].Serial != 11 || len(c.evs[0].Records) != 1 || c.evs[0].Incomplete {
		t.Fatalf("after EOE 11: %+v", c.evs)
	}
	r.Push(mkRec(t, TypeEOE, 10, ""), now)
	if len(c.evs) != 2 || c.evs[1].Serial != 10 || len(c.evs[1].Records) != 3 {
		t.Fatalf("after EOE 10: %+v", c.evs)
	}
	if ev := c.evs[1]; ev.Records[0].Type != TypeSyscall || ev.Records[2].Type != TypeCwd || ev.ID() != "1795736730.705:10" {
		t.Errorf("order/ID: %v %s", ev.Records, ev.ID())
	}
	if _, ok := c.evs[1].First(TypePath); ok {
		t.Error("First found a missing type")
	}
	// A duplicate record after the EOE is dropped and counted.
	r.Push(mkRec(t, TypeCwd, 10, `cwd="/"`), now)
	r.Push(mkRec(t, TypeEOE, 10, ""), now)
	st := r.Stats()
	if st.Late != 2 || st.Events != 2 || st.Records != 8 || st.Pending != 0 || st.Gaps != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestReassemblerStandalone(t *testing.T) {
	var c collector
	r := NewReassembler(ReassemblerConfig{}, c.emit)
	now := time.Unix(1000, 0)
	for i, typ := range []uint16{1100, 1105, 1199, TypeAVC, TypeSeccomp, 1500, 2100, TypeLogin, 1702} {
		r.Push(mkRec(t, typ, uint64(20+i), "pid=5"), now)
		if len(c.evs) != i+1 || c.evs[i].Records[0].Type != typ {
			t.Fatalf("type %d not handed over at once", typ)
		}
	}
	for _, typ := range []uint16{TypeSyscall, TypePath, TypeConfig, TypeProctitle, 1334} {
		if Standalone(typ) {
			t.Errorf("%d standalone", typ)
		}
	}
}

func TestReassemblerTimeout(t *testing.T) {
	var c collector
	r := NewReassembler(ReassemblerConfig{Timeout: 3 * time.Second}, c.emit)
	t0 := time.Unix(1000, 0)
	r.Push(mkRec(t, TypeSyscall, 30, "syscall=59 success=yes pid=1"), t0)
	r.Push(mkRec(t, TypeExecve, 30, `argc=1 a0="x"`), t0)
	// A record logged outside a syscall: the kernel sends no EOE.
	r.Push(mkRec(t, 1334, 31, "prog-id=7 op=UNLOAD"), t0.Add(time.Second))
	r.Expire(t0.Add(2 * time.Second))
	if len(c.evs) != 0 {
		t.Fatalf("expired early: %+v", c.evs)
	}
	r.Expire(t0.Add(3 * time.Second))
	if len(c.evs) != 1 || !c.evs[0].Incomplete || len(c.evs[0].Records) != 2 {
		t.Fatalf("timeout: %+v", c.evs)
	}
	r.Expire(t0.Add(4 * time.Second))
	if len(c.evs) != 2 || c.evs[1].Incomplete || c.evs[1].Serial != 31 {
		t.Fatalf("unterminated: %+v", c.evs)
	}
	// The rest of the timed-out event arrives late: handed over, flagged.
	r.Push(mkRec(t, TypeCwd, 30, `cwd="/"`), t0.Add(5*time.Second))
	r.Push(mkRec(t, TypeEOE, 30, ""), t0.Add(5*time.Second))
	if len(c.evs) != 3 || !c.evs[2].Incomplete || c.evs[2].Records[0].Type != TypeCwd {
		t.Fatalf("remainder: %+v", c.evs)
	}
	st := r.Stats()
	if st.Timeouts != 1 || st.Unterminated != 1 || st.Incomplete != 2 || st.Events != 3 {
		t.Errorf("stats %+v", st)
	}
	// Flush hands over what is pending.
	r.Push(mkRec(t, TypeSyscall, 32, "syscall=59"), t0.Add(6*time.Second))
	r.Push(mkRec(t, TypeProctitle, 33, "proctitle=41"), t0.Add(6*time.Second))
	r.Flush()
	if len(c.evs) != 5 || !c.evs[3].Incomplete || c.evs[4].Incomplete || r.Stats().Pending != 0 {
		t.Errorf("flush: %+v", c.evs[3:])
	}
}

func TestReassemblerBounds(t *testing.T) {
	var c collector
	r := NewReassembler(ReassemblerConfig{MaxPending: 3, MaxRecords: 4}, c.emit)
	now := time.Unix(1000, 0)
	for s := uint64(40); s < 45; s++ {
		r.Push(mkRec(t, TypeSyscall, s, "syscall=59"), now)
	}
	st := r.Stats()
	if st.Pending != 3 || st.Evicted != 2 || len(c.evs) != 2 || c.evs[0].Serial != 40 || !c.evs[0].Incomplete {
		t.Fatalf("max pending: %+v %+v", st, c.evs)
	}
	for i := 0; i < 10; i++ {
		r.Push(mkRec(t, TypeExecve, 44, "argc=1"), now)
	}
	r.Push(mkRec(t, TypeEOE, 44, ""), now)
	last := c.evs[len(c.evs)-1]
	if last.Serial != 44 || len(last.Records) != 4 || !last.Incomplete || r.Stats().Oversize != 7 {
		t.Errorf("max records: %d records, %+v", len(last.Records), r.Stats())
	}
	// Byte bound: one huge pending event pushes out older ones, never itself.
	c.evs = nil
	r = NewReassembler(ReassemblerConfig{MaxBytes: 4096}, c.emit)
	r.Push(mkRec(t, TypeSyscall, 50, "syscall=59"), now)
	big := "a0=" + string(make([]byte, 0)) + fmt.Sprintf("%0*d", 5000, 0)
	r.Push(mkRec(t, TypeExecve, 51, big), now)
	if len(c.evs) != 1 || c.evs[0].Serial != 50 || r.Stats().Pending != 1 {
		t.Errorf("byte bound: %+v %+v", c.evs, r.Stats())
	}
}

func TestReassemblerGaps(t *testing.T) {
	var c collector
	r := NewReassembler(ReassemblerConfig{Timeout: time.Second}, c.emit)
	t0 := time.Unix(1000, 0)
	push := func(s uint64, at time.Duration) {
		r.Push(mkRec(t, TypeSyscall, s, "syscall=1"), t0.Add(at))
		r.Push(mkRec(t, TypeEOE, s, ""), t0.Add(at))
	}
	push(100, 0)
	push(103, 0) // 101, 102 missing for now
	push(101, 0) // out of order: arrives late, not a gap
	r.Expire(t0.Add(500 * time.Millisecond))
	if g := r.Stats().Gaps; g != 0 {
		t.Fatalf("gaps before timeout: %d", g)
	}
	r.Expire(t0.Add(time.Second))
	if g := r.Stats().Gaps; g != 1 { // 102 never came
		t.Fatalf("gaps: %d", g)
	}
	// A jump as from a wrap of the 32-bit counter or a restart is not loss.
	const base = 1 << 30
	push(base, 2*time.Second)
	push(base+1, 2*time.Second)
	// A large gap is one range; late arrivals split it.
	push(base+10002, 2*time.Second) // base+2 .. base+10001 missing
	push(base+5, 2*time.Second)
	push(base+2, 2*time.Second)
	push(base+10001, 2*time.Second)
	if n := len(r.gaps.missing); n != 2 {
		t.Fatalf("ranges %+v", r.gaps.missing)
	}
	r.Expire(t0.Add(10 * time.Second))
	if g := r.Stats().Gaps; g != 1+9997 {
		t.Fatalf("after expiry: %d", g)
	}
	// Too many ranges: the oldest are counted at once. The first push
	// leaves base+10003..base+19999 missing, each later one a single
	// serial: gapMaxRanges+10 ranges, of which the oldest 10 are counted.
	for i := uint64(0); i < gapMaxRanges+10; i++ {
		push(base+20000+2*i, 11*time.Second)
	}
	if g := r.Stats().Gaps; g != 1+9997+9997+9 {
		t.Fatalf("over the range bound: %d", g)
	}
}

// FuzzReassembler drives a Reassembler with records and clock steps
// decoded from the input and checks that every record is accounted for.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 1, 1, 0, 20, 0, 1, 2, 0, 3, 0, 0})
	f.Add([]byte{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5})
	types := []uint16{TypeSyscall, TypeExecve, TypeCwd, TypePath, TypeEOE, TypeProctitle, 1105, TypeAVC, 1334}
	// Records are parsed once; the fuzzer varies type, serial and order.
	base := make([]Record, len(types))
	for i, typ := range types {
		base[i] = mkRec(f, typ, 0, "syscall=59 a0=41")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var emitted, recs int
		r := NewReassembler(ReassemblerConfig{Timeout: time.Second, MaxPending: 8, MaxRecords: 16, MaxBytes: 8192}, func(ev Event) {
			emitted++
			recs += len(ev.Records)
			if len(ev.Records) == 0 || len(ev.Records) > 16 {
				t.Fatalf("event with %d records", len(ev.Records))
			}
			for _, rc := range ev.Records {
				if rc.Serial != ev.Serial || rc.Type == TypeEOE {
					t.Fatalf("record %d/%d in event %d", rc.Type, rc.Serial, ev.Serial)
				}
			}
		})
		now := time.Unix(1000, 0)
		var pushed, eoes int
		for len(b) >= 3 {
			op, arg := b[0], binary.LittleEndian.Uint16(b[1:3])
			b = b[3:]
			switch {
			case op%8 == 7:
				now = now.Add(time.Duration(arg) * time.Millisecond)
				r.Expire(now)
			default:
				rec := base[int(op)%len(types)]
				typ := rec.Type
				rec.Serial = uint64(arg % 64)
				if op > 200 {
					rec.Serial = uint64(arg) << 8
				}
				r.Push(rec, now)
				pushed++
				if typ == TypeEOE {
					eoes++
				}
			}
			if st := r.Stats(); st.Pending > 8 {
				t.Fatalf("%d pending", st.Pending)
			}
		}
		r.Flush()
		st := r.Stats()
		if st.Pending != 0 {
			t.Fatalf("pending after flush: %d", st.Pending)
		}
		// Every record is handed over, or is an EOE, a duplicate or oversize.
		if recs+eoes+int(st.Late)+int(st.Oversize) < pushed || uint64(emitted) != st.Events {
			t.Fatalf("pushed %d, handed %d + eoe %d + late %d + oversize %d; events %d/%d",
				pushed, recs, eoes, st.Late, st.Oversize, emitted, st.Events)
		}
	})
}

func TestSerialRing(t *testing.T) {
	r := newSerialRing(3)
	for v := uint64(1); v <= 5; v++ {
		r.add(v)
		r.add(v) // twice: no effect
	}
	for v, want := range map[uint64]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		if r.has(v) != want {
			t.Errorf("has(%d) = %v", v, !want)
		}
	}
	if len(r.set) != 3 || len(r.ring) != 3 {
		t.Errorf("size %d/%d", len(r.set), len(r.ring))
	}
}
