package audit

import (
	"container/list"
	"fmt"
	"slices"
	"time"
)

// Event is the records of one audit event (one serial) in arrival order,
// without the closing EOE record.
type Event struct {
	Serial uint64
	Time   time.Time // audit timestamp of the first record
	// Received is when gosquery took the event's first record off the
	// socket (the now given to Push): the kernel emitted the record, and
	// so finished the syscall it describes, before then. Other event
	// sources are caught up to this instant, which, unlike Time (the
	// kernel's coarse clock at syscall entry), is never early.
	Received time.Time
	Records  []Record
	// Incomplete is set when the event was handed over without its EOE
	// although the kernel would send one (it has a SYSCALL record): after
	// the timeout, when evicted to bound memory, at shutdown, or when it
	// is the late remainder of such an event. It is also set when records
	// were dropped because the event exceeded MaxRecords.
	Incomplete bool
}

// First returns the event's first record of type typ.
func (e *Event) First(typ uint16) (*Record, bool) {
	for i := range e.Records {
		if e.Records[i].Type == typ {
			return &e.Records[i], true
		}
	}
	return nil, false
}

// ID is osquery's audit_id of the event, "<sec>.<msec>:<serial>".
func (e *Event) ID() string {
	return fmt.Sprintf("%d.%03d:%d", e.Time.Unix(), e.Time.Nanosecond()/int(time.Millisecond), e.Serial)
}

// Standalone reports whether records of type t are events by themselves,
// handed over at once: user-space messages (1100–1199, 2100–2999), daemon
// messages (1200–1299), LOGIN, SELinux/AVC (1400–1499), AppArmor
// (1500–1599), SECCOMP, kernel anomalies and integrity (1700–1899) and
// AUDIT_KERNEL. osquery treats USER_*, SELinux/AppArmor and SECCOMP records
// the same way; the other ranges are added because the kernel never closes
// them with an EOE, so waiting for one would only delay them.
func Standalone(t uint16) bool {
	switch {
	case t == TypeLogin, t == TypeSeccomp, t == 2000:
		return true
	case t >= 1100 && t <= 1299:
		return true
	case t >= 1400 && t <= 1599:
		return true
	case t >= 1700 && t <= 1899:
		return true
	case t >= TypeFirstUser2 && t <= TypeLastUser2:
		return true
	}
	return false
}

// ReassemblerConfig bounds a Reassembler. Zero values take the defaults.
type ReassemblerConfig struct {
	// Timeout hands over an event whose EOE has not come this long after
	// its first record. Default 3 s (osquery waits 300 s, which only
	// delays loss reports).
	Timeout time.Duration
	// MaxPending bounds the events waiting for their EOE; beyond it the
	// oldest is handed over incomplete. Default 4096.
	MaxPending int
	// MaxBytes bounds the text held by pending events. Default 64 MiB.
	MaxBytes int
	// MaxRecords bounds the records of one event; more are dropped and
	// counted. Default 8192 (a 2 MiB argv in hex is ~560 EXECVE records).
	MaxRecords int
}

func (c ReassemblerConfig) withDefaults() ReassemblerConfig {
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4096
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = 8192
	}
	return c
}

// ReassemblerStats counts what a Reassembler did.
type ReassemblerStats struct {
	Records    uint64 // records pushed
	Events     uint64 // events handed over
	Incomplete uint64 // events handed over with Incomplete set
	// Timeouts counts events with a SYSCALL record whose EOE never came
	// (possible loss).
	Timeouts uint64
	// Unterminated counts events without a SYSCALL record handed over at
	// the timeout: the kernel sends no EOE for records logged outside a
	// syscall, so these are not loss.
	Unterminated uint64
	Evicted      uint64 // events handed over early to bound memory
	Oversize     uint64 // records dropped because their event had MaxRecords
	// Late counts records for an event already closed by its EOE
	// (duplicates); they are dropped.
	Late uint64
	// Gaps counts serials never seen within the timeout (possible loss:
	// serials are allocated densely to records the kernel emits).
	Gaps    uint64
	Pending int // events waiting now
}

type pendingEvent struct {
	ev         Event
	firstSeen  time.Time
	bytes      int
	hasSyscall bool
	elem       *list.Element
}

// Reassembler groups records into events by serial and hands each event to
// emit when its EOE arrives, or incomplete when it times out or must be
// evicted. It is not safe for concurrent use; Push, Expire and Flush call
// emit synchronously.
type Reassembler struct {
	cfg     ReassemblerConfig
	emit    func(Event)
	pending map[uint64]*pendingEvent
	order   *list.List // of *pendingEvent, oldest first
	bytes   int
	closed  serialRing // serials closed by EOE: later records are duplicates
	cut     serialRing // serials handed over without EOE: later records are their remainder
	gaps    gapTracker
	stats   ReassemblerStats
}

// NewReassembler returns a Reassembler handing events to emit.
func NewReassembler(cfg ReassemblerConfig, emit func(Event)) *Reassembler {
	cfg = cfg.withDefaults()
	return &Reassembler{
		cfg: cfg, emit: emit,
		pending: make(map[uint64]*pendingEvent),
		order:   list.New(),
		closed:  newSerialRing(4096),
		cut:     newSerialRing(4096),
	}
}

// recordBytes estimates what a record holds in memory.
func recordBytes(r *Record) int {
	n := 64
	for _, f := range r.fields {
		n += len(f.Key) + len(f.Value) + 32
	}
	return n
}

// Push adds one record received at now.
func (r *Reassembler) Push(rec Record, now time.Time) {
	r.stats.Records++
	r.stats.Gaps += r.gaps.see(rec.Serial, now)
	if Standalone(rec.Type) {
		r.hand(Event{Serial: rec.Serial, Time: rec.Time, Received: now, Records: []Record{rec}})
		return
	}
	if r.closed.has(rec.Serial) {
		r.stats.Late++
		return
	}
	p := r.pending[rec.Serial]
	if p == nil {
		if rec.Type == TypeEOE && !r.cut.has(rec.Serial) {
			// An EOE alone: the records before it were lost before we
			// could see them, and gap detection counts their serial if
			// it is missing. Nothing to hand over.
			r.closed.add(rec.Serial)
			return
		}
		p = &pendingEvent{ev: Event{Serial: rec.Serial, Time: rec.Time, Received: now}, firstSeen: now}
		if r.cut.has(rec.Serial) {
			p.ev.Incomplete = true
		}
		p.elem = r.order.PushBack(p)
		r.pending[rec.Serial] = p
	}
	if rec.Type == TypeEOE {
		r.finish(p)
		r.closed.add(rec.Serial)
		return
	}
	if len(p.ev.Records) >= r.cfg.MaxRecords {
		r.stats.Oversize++
		p.ev.Incomplete = true
		return
	}
	if rec.Type == TypeSyscall {
		p.hasSyscall = true
	}
	sz := recordBytes(&rec)
	p.ev.Records = append(p.ev.Records, rec)
	p.bytes += sz
	r.bytes += sz
	for len(r.pending) > r.cfg.MaxPending || (r.bytes > r.cfg.MaxBytes && r.order.Len() > 1) {
		oldest := r.order.Front().Value.(*pendingEvent)
		if oldest == p && r.order.Len() > 1 && len(r.pending) <= r.cfg.MaxPending {
			// Over the byte bound because of the event being built:
			// evict the others first.
			oldest = r.order.Front().Next().Value.(*pendingEvent)
		}
		r.stats.Evicted++
		r.cutOff(oldest)
	}
}

// Expire hands over the events whose first record is older than the
// timeout. Call it only when everything received so far has been pushed:
// otherwise a slow consumer would make events time out whose records are
// merely queued.
func (r *Reassembler) Expire(now time.Time) {
	for e := r.order.Front(); e != nil; {
		p := e.Value.(*pendingEvent)
		if now.Sub(p.firstSeen) < r.cfg.Timeout {
			break
		}
		e = e.Next()
		if p.hasSyscall {
			r.stats.Timeouts++
			r.cutOff(p)
		} else {
			r.stats.Unterminated++
			r.finish(p)
			r.closed.add(p.ev.Serial)
		}
	}
	r.stats.Gaps += r.gaps.expire(now, r.cfg.Timeout)
}

// Flush hands over every pending event (at shutdown), incomplete where an
// EOE was still due.
func (r *Reassembler) Flush() {
	for e := r.order.Front(); e != nil; {
		p := e.Value.(*pendingEvent)
		e = e.Next()
		if p.hasSyscall {
			r.cutOff(p)
		} else {
			r.finish(p)
		}
	}
}

// Stats returns the counters.
func (r *Reassembler) Stats() ReassemblerStats {
	s := r.stats
	s.Pending = len(r.pending)
	return s
}

// cutOff hands p over without its EOE.
func (r *Reassembler) cutOff(p *pendingEvent) {
	p.ev.Incomplete = p.ev.Incomplete || p.hasSyscall
	r.cut.add(p.ev.Serial)
	r.finish(p)
}

func (r *Reassembler) finish(p *pendingEvent) {
	r.order.Remove(p.elem)
	delete(r.pending, p.ev.Serial)
	r.bytes -= p.bytes
	if len(p.ev.Records) == 0 {
		return
	}
	r.hand(p.ev)
}

func (r *Reassembler) hand(ev Event) {
	r.stats.Events++
	if ev.Incomplete {
		r.stats.Incomplete++
	}
	r.emit(ev)
}

// serialRing remembers the last n serials added.
type serialRing struct {
	n    int
	ring []uint64 // grows to n, then wraps
	set  map[uint64]struct{}
	next int
}

func newSerialRing(n int) serialRing {
	return serialRing{n: n, set: make(map[uint64]struct{})}
}

func (s *serialRing) has(v uint64) bool { _, ok := s.set[v]; return ok }

func (s *serialRing) add(v uint64) {
	if s.has(v) {
		return
	}
	if len(s.ring) < s.n {
		s.ring = append(s.ring, v)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = v
		s.next = (s.next + 1) % s.n
	}
	s.set[v] = struct{}{}
}

// gapTracker detects serials that never arrive. The kernel allocates
// serials densely, one per event it emits, but events finish out of order
// across CPUs, so a skipped serial only counts once it has stayed missing
// for the timeout. Missing serials are kept as ranges, so a large jump
// costs no more than a small one.
type gapTracker struct {
	started bool
	max     uint64
	// missing is sorted and disjoint; ranges are added as max grows, so
	// their order is also the order in which they went missing.
	missing []gapRange
}

type gapRange struct {
	lo, hi uint64 // inclusive
	at     time.Time
}

const (
	// gapMaxRanges bounds the ranges kept; beyond it the oldest is counted
	// at once.
	gapMaxRanges = 4096
	// gapReset is a jump treated as a restart of the numbering (the kernel
	// counter is 32-bit and wraps), not as loss.
	gapReset = 1 << 20
)

func (g *gapTracker) see(s uint64, now time.Time) (gaps uint64) {
	switch {
	case !g.started || s+gapReset < g.max || s > g.max+gapReset:
		g.started, g.max = true, s
		g.missing = g.missing[:0]
	case s > g.max:
		if s > g.max+1 {
			g.missing = append(g.missing, gapRange{lo: g.max + 1, hi: s - 1, at: now})
			if len(g.missing) > gapMaxRanges {
				gaps += g.missing[0].hi - g.missing[0].lo + 1
				g.missing = g.missing[1:]
			}
		}
		g.max = s
	default:
		// A late arrival: take it out of its range, if it is in one.
		i, _ := slices.BinarySearchFunc(g.missing, s, func(r gapRange, s uint64) int {
			switch {
			case r.hi < s:
				return -1
			case r.lo > s:
				return 1
			}
			return 0
		})
		if i == len(g.missing) || g.missing[i].lo > s {
			return 0
		}
		r := &g.missing[i]
		switch {
		case r.lo == r.hi:
			g.missing = slices.Delete(g.missing, i, i+1)
		case s == r.lo:
			r.lo++
		case s == r.hi:
			r.hi--
		default:
			upper := gapRange{lo: s + 1, hi: r.hi, at: r.at}
			r.hi = s - 1
			g.missing = slices.Insert(g.missing, i+1, upper)
		}
	}
	return gaps
}

func (g *gapTracker) expire(now time.Time, timeout time.Duration) (gaps uint64) {
	i := 0
	for ; i < len(g.missing) && now.Sub(g.missing[i].at) >= timeout; i++ {
		gaps += g.missing[i].hi - g.missing[i].lo + 1
	}
	if i > 0 {
		g.missing = append(g.missing[:0], g.missing[i:]...)
	}
	return gaps
}
