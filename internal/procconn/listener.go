package procconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/nlbatch"
)

// Defaults for Listen.
const (
	// defaultRcvBuf is the socket receive buffer asked for. Queued skbs are
	// charged at their truesize (about 1 KiB for a 76-byte event), so 8 MiB
	// holds roughly 8,000 events: a burst of a few thousand forks while the
	// reader is descheduled. The kernel doubles the value it is given.
	defaultRcvBuf = 8 << 20
	// defaultChanCap is the number of datagrams (one event each) the
	// reader can queue ahead of Run.
	defaultChanCap = 8192
	// ackTimeout bounds each wait for the kernel's subscription
	// acknowledgement, which normally arrives within microseconds.
	ackTimeout = time.Second
	// slabSize is the chunk datagrams are copied into, so the reader
	// allocates once per ~200 events rather than once per event.
	slabSize = 16 << 10
	// offsetEvery is how often Run re-reads the suspend offset.
	offsetEvery = time.Second
)

// subscribeMask is what the ancestry cache needs.
const subscribeMask = Fork | Exec | Exit

// procEventAll is PROC_EVENT_ALL: the mask of a subscriber without a
// filter, and the one kernel filter value whose acks reach the subscriber.
const procEventAll = Fork | Exec | UID | GID | SID | Ptrace | Comm | NonzeroExit | Coredump | Exit

// Stats are a Listener's counters since Listen.
type Stats struct {
	// Datagrams received from the kernel.
	Datagrams uint64
	// Forks, Execs and Exits parsed (thread events included), Other the
	// events of other kinds and acks, which Run does not deliver.
	Forks, Execs, Exits, Other uint64
	// Overruns counts ENOBUFS from a receive: the socket buffer overflowed
	// and the kernel dropped an unknown number of events. Any non-zero
	// value means loss.
	Overruns uint64
	// Drops counts datagrams the reader discarded because the channel to
	// Run was full (Run, or its callback, too slow). Also loss.
	Drops uint64
	// ParseErrors counts datagrams that were malformed or truncated.
	ParseErrors uint64
	// Foreign counts datagrams that did not come from the kernel (another
	// process sending to our port) and were ignored.
	Foreign uint64
}

// Lost reports whether events were lost (overruns or drops).
func (s Stats) Lost() bool { return s.Overruns != 0 || s.Drops != 0 }

// Listener is a subscription to the proc connector.
type Listener struct {
	sock   *nlbatch.Socket
	f      *os.File
	rc     syscallConn
	portID uint32
	cfg    config

	filtered bool
	rcvBuf   int

	ch         chan []byte
	readerDone chan struct{}
	// pending holds datagrams the subscription handshake read before Run.
	pending [][]byte

	running atomic.Bool
	closed  atomic.Bool // set by Close before the socket is closed

	// For Sync: the reader counts the receive rounds it started and
	// finished and the datagrams it queued, Run the datagrams it finished.
	starts, rounds, queued, delivered atomic.Uint64
	// finishedStart is when the last finished round began (nanoseconds
	// of Go's monotonic clock since epoch): everything the kernel queued
	// before then has been taken off the socket.
	finishedStart atomic.Int64
	epoch         time.Time
	// syncers counts Syncs waiting; while there are any, the reader
	// signals progress after each round, and Run once delivered reaches
	// syncTarget.
	syncers    atomic.Int32
	syncTarget atomic.Uint64
	// behind is the delivery count a SyncSince gave up waiting for: until
	// Run reaches it, the consumer is known to be behind and SyncSince
	// does not wait again.
	behind   atomic.Uint64
	progress chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Run's own state (one Run at a time).
	events   []Event
	offset   int64
	offsetAt time.Time

	stats struct {
		datagrams, forks, execs, exits, other atomic.Uint64
		overruns, drops, parseErrors, foreign atomic.Uint64
	}
}

// syscallConn is the subset of syscall.RawConn used: the descriptor cannot
// be closed and reused while a call on it is in progress.
type syscallConn interface {
	Read(func(fd uintptr) bool) error
	Write(func(fd uintptr) bool) error
	Control(func(fd uintptr)) error
}

// config holds knobs tests turn; Listen uses the defaults.
type config struct {
	rcvBuf  int
	chanCap int
	// noFilter skips the Linux 6.6+ event filter (tests of the fallback).
	noFilter bool
	// mask is the kernel-side filter (default fork|exec|exit).
	mask Kind
	// beforeRecv, if set, runs in the reader before every receive (tests
	// stall the reader with it).
	beforeRecv func()
}

// Listen opens a proc connector socket and subscribes to fork, exec and exit
// events: with the kernel-side event filter when the kernel acknowledges it
// (Linux 6.6+), else with a plain subscription (other kinds are then
// received and discarded). It asks for a large receive buffer
// (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN, else SO_RCVBUF capped by
// net.core.rmem_max) and starts the reader goroutine, so events are
// collected from the moment Listen returns; call Run to consume them and
// Close to end the subscription. ctx bounds the subscription handshake
// only.
func Listen(ctx context.Context) (*Listener, error) {
	return listen(ctx, config{})
}

// ListenFor is Listen with the kernel-side filter set to kinds (a mask of
// Fork, Exec, Exit, ...): a consumer that needs only forks and exits
// halves the datagrams it receives under an exec storm. Without filter
// support (before Linux 6.6) every kind arrives and Run delivers kinds
// only.
func ListenFor(ctx context.Context, kinds Kind) (*Listener, error) {
	return listen(ctx, config{mask: kinds})
}

// ErrUnavailable says that this machine or this process's namespaces give
// no proc connector events: the kernel lacks it, or the process is outside
// the namespaces the kernel serves. Other errors are faults.
var ErrUnavailable = errors.New("procconn: unavailable")

// Probe reports whether a subscription works here: nil, or an error that
// says why not (errors.Is ErrUnavailable when the feature is missing rather
// than broken).
func Probe(ctx context.Context) error {
	l, err := listen(ctx, config{})
	if err != nil {
		return err
	}
	return l.Close()
}

func listen(ctx context.Context, cfg config) (*Listener, error) {
	if cfg.rcvBuf <= 0 {
		cfg.rcvBuf = defaultRcvBuf
	}
	if cfg.chanCap <= 0 {
		cfg.chanCap = defaultChanCap
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, fmt.Errorf("%w: the kernel has no netlink connector (CONFIG_CONNECTOR, CONFIG_PROC_EVENTS): %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("procconn: socket: %w", err)
	}
	fail := func(what string, err error) (*Listener, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("procconn: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fail("bind", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fail("getsockname", fmt.Errorf("unexpected address %T", sa))
	}
	// SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; without it
	// SO_RCVBUF still gets rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.rcvBuf) != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.rcvBuf); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	rcvBuf, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)

	// Outside the runtime poller (see nlbatch.Socket).
	sock, err := nlbatch.Open(fd, "procconn")
	if err != nil {
		return nil, fmt.Errorf("procconn: %w", err)
	}
	l := &Listener{
		sock:       sock,
		f:          sock.File,
		rc:         sock.Conn,
		portID:     nl.Pid,
		cfg:        cfg,
		rcvBuf:     rcvBuf,
		ch:         make(chan []byte, cfg.chanCap),
		readerDone: make(chan struct{}),
		epoch:      time.Now(),
		progress:   make(chan struct{}, 1),
	}
	go l.read()
	if err := l.subscribe(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// subscribe runs the handshake. The filter cannot be probed directly: the
// kernel's filter also applies to acks (what = 0 matches no mask bit), so a
// filtered subscriber never sees its own ack. So it first subscribes with
// proc_input{LISTEN, PROC_EVENT_ALL}, which only a 6.6+ kernel understands
// and acknowledges (older ones silently ignore an 8-byte payload), then
// narrows the mask, which the kernel applies without another listener count
// increment.
func (l *Listener) subscribe(ctx context.Context) error {
	if !l.cfg.noFilter && kernelAtLeast(6, 6) {
		ack := ackNumber()
		if err := l.send(subscribeMessage(procCnMcastListen, procEventAll, ackNumber(), ack, l.portID)); err != nil {
			return err
		}
		errno, err := l.awaitAck(ctx, ack)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err == nil && errno == 0 {
			mask := subscribeMask
			if l.cfg.mask != 0 {
				mask = l.cfg.mask
			}
			if err := l.send(subscribeMessage(procCnMcastListen, mask, ackNumber(), ackNumber(), l.portID)); err != nil {
				return err
			}
			l.filtered = true
			return nil
		}
	}
	ack := ackNumber()
	if err := l.send(subscribeMessage(procCnMcastListen, 0, ackNumber(), ack, l.portID)); err != nil {
		return err
	}
	errno, err := l.awaitAck(ctx, ack)
	if err != nil {
		if ctx.Err() == nil {
			// The kernel drops a subscription it does not serve without a
			// word. Only when this process is where it would is the
			// silence a feature missing rather than a fault (an overloaded
			// machine, say).
			if why := unservedHere(); why != "" {
				return fmt.Errorf("%w: %w (%s)", ErrUnavailable, err, why)
			}
			err = fmt.Errorf("%w (the kernel ignores subscribers outside the initial user and pid namespaces, and before Linux 6.6 requires CAP_NET_ADMIN)", err)
		}
		return err
	}
	if errno != 0 {
		return fmt.Errorf("procconn: subscription refused: %w", unix.Errno(errno))
	}
	return nil
}

// unservedHere says why the kernel would ignore this process's
// subscription ("" when it would not): a user or pid namespace other than
// the initial one, or no CAP_NET_ADMIN (root, here) before Linux 6.6.
func unservedHere() string {
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		if f := strings.Fields(string(b)); len(f) != 3 || f[0] != "0" || f[1] != "0" || f[2] != "4294967295" {
			return "not in the initial user namespace"
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok && len(strings.Fields(v)) > 1 {
				return "not in the initial pid namespace"
			}
		}
	}
	if !kernelAtLeast(6, 6) && os.Geteuid() != 0 {
		return "before Linux 6.6 the proc connector needs CAP_NET_ADMIN"
	}
	return ""
}

// ackNumber picks a random number for a request's seq and ack fields. Acks
// are multicast to every subscriber and carry the request's ack + 1 (the
// kernel overwrites their seq with its per-CPU counter), so a random ack
// number tells ours apart from other processes' (which mostly send 0).
func ackNumber() uint32 { return rand.Uint32() >> 1 }

// awaitAck waits for the ack to the request with ack number ack, keeping
// every other datagram for Run.
func (l *Listener) awaitAck(ctx context.Context, ack uint32) (uint32, error) {
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
			return 0, errors.New("procconn: no acknowledgement from the proc connector")
		case d, ok := <-l.ch:
			if !ok {
				return 0, errors.New("procconn: socket closed during subscription")
			}
			evs, _ := ParseMessage(d)
			for _, ev := range evs {
				if ev.Kind == Ack && ev.AckNum == ack+1 {
					// The ack's datagram carries nothing else.
					l.delivered.Add(1) // done with, for Sync
					return ev.Err, nil
				}
			}
			if len(l.pending) < l.cfg.chanCap {
				l.pending = append(l.pending, d)
			} else {
				l.stats.drops.Add(1)
				l.delivered.Add(1) // done with, for Sync
			}
		}
	}
}

// send writes a request to the kernel (port 0, no group: sending to a
// multicast group would need CAP_NET_ADMIN).
func (l *Listener) send(msg []byte) error {
	var serr error
	err := l.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if errors.Is(err, unix.ECONNREFUSED) {
		// The connector's kernel socket exists in the initial network
		// namespace only.
		return fmt.Errorf("%w: not in the initial network namespace: send: %w", ErrUnavailable, err)
	}
	if err != nil {
		return fmt.Errorf("procconn: send: %w", err)
	}
	return nil
}

// read is the reader goroutine. It does nothing but receive and hand the
// datagrams over, so the socket drains as fast as the kernel fills it; when
// Run falls behind it drops (and counts) rather than stop reading, because
// a full socket buffer would lose events anyway, without saying which.
// It waits for the next datagram and takes what is queued behind it; then
// it pauses so the next burst is taken whole (nlbatch.Pause).
func (l *Listener) read() {
	defer close(l.readerDone)
	defer close(l.ch)
	defer l.sock.Release()
	br := nlbatch.New(64, maxMessage)
	var slab []byte
	for {
		if l.cfg.beforeRecv != nil {
			l.cfg.beforeRecv()
		}
		if !l.sock.WaitReadable() {
			return // closed
		}
		l.starts.Add(1)
		began := int64(time.Since(l.epoch))
		burst := 0
		for {
			got, err := br.Recv(l.rc)
			switch {
			case err == unix.ENOBUFS:
				l.stats.overruns.Add(1)
				continue
			case err != nil && l.closed.Load():
				return
			case err != nil:
				l.take(err, 0, 0, nil, &slab)
			}
			for i := range got {
				data, cut, port := br.Datagram(i)
				size := len(data)
				if cut {
					size = maxMessage + 1
				}
				l.take(nil, port, size, data, &slab)
			}
			burst += got
			if err != nil || got < br.Cap() {
				break
			}
		}
		l.finishedStart.Store(began)
		l.rounds.Add(1)
		l.signalProgress()
		if l.cfg.beforeRecv == nil {
			nlbatch.Pause(burst, pauseDelay, nil)
		}
	}
}

// take checks one received datagram and queues a copy for Run, counting
// what it drops: errors, foreign senders, oversized datagrams, a full
// channel.
func (l *Listener) take(rerr error, from uint32, n int, data []byte, slab *[]byte) {
	switch {
	case rerr != nil:
		// Nothing else is expected from a bound netlink socket; count it
		// and keep reading rather than lose the subscription.
		l.stats.parseErrors.Add(1)
		return
	case from != 0:
		// Only the kernel (port 0) sends events; a process that found our
		// port id must not feed fake forks into the ancestry.
		l.stats.foreign.Add(1)
		return
	case n > len(data) || n > maxMessage:
		l.stats.datagrams.Add(1)
		l.stats.parseErrors.Add(1)
		return
	}
	l.stats.datagrams.Add(1)
	if len(*slab) < n {
		*slab = make([]byte, max(slabSize, n))
	}
	d := (*slab)[:n:n]
	*slab = (*slab)[n:]
	copy(d, data[:n])
	select {
	case l.ch <- d:
		l.queued.Add(1)
	default:
		l.stats.drops.Add(1)
	}
}

// Sync returns true once every datagram the kernel queued on the socket
// before the call has been through Run's fn, or false after timeout (or
// when the Listener is closed, or Run is not running).
func (l *Listener) Sync(timeout time.Duration) bool {
	return l.SyncSince(time.Now(), timeout)
}

// SyncSince returns true once every datagram the kernel queued on the
// socket before since has been through Run's fn, or false after timeout
// (or when the Listener is closed, or Run is not running). The kernel
// reports a fork before the child can run, so once another source (audit)
// has received an exec at since, SyncSince(since) means the consumer has
// seen every fork and exit that exec can depend on. Many execs received in
// one burst share since, and so share one wait.
//
// After a timeout, later calls return false at once until Run has
// delivered what the timed-out call waited for: on a starved machine each
// exec would otherwise wait the whole timeout, and the caller's own queue
// would overflow.
func (l *Listener) SyncSince(since time.Time, timeout time.Duration) bool {
	if b := l.behind.Load(); b != 0 {
		if l.delivered.Load() < b {
			return false
		}
		l.behind.CompareAndSwap(b, 0)
	}
	if !l.syncSince(since, timeout) {
		raiseTo(&l.behind, max(l.queued.Load(), 1))
		return false
	}
	return true
}

func (l *Listener) syncSince(since time.Time, timeout time.Duration) bool {
	l.syncers.Add(1)
	defer l.syncers.Add(-1)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	wait := func() bool {
		if l.closed.Load() {
			return false
		}
		select {
		case <-l.progress:
			return true
		case <-timer.C:
			return false
		}
	}
	// What was queued before since has been taken off the socket once a
	// receive round that began at or after since has finished (a round
	// drains the socket), or once the socket is empty with no round in
	// progress (so the round that took it has queued it). Under load the
	// first comes after at most one round, without waiting for a quiet
	// moment; idle, the second holds at once. The order of the loads
	// matters: rounds only grows and never passes starts.
	want := int64(since.Sub(l.epoch))
	for {
		readable := nlbatch.Readable(l.rc)
		finished := l.rounds.Load()
		if l.finishedStart.Load() >= want || (!readable && finished == l.starts.Load()) {
			break
		}
		// The reader is pausing to take the next burst whole, or is in a
		// round; waking it early would cost the batching its pause buys
		// (a wake-up per exec at a steady rate), so this waits for the
		// round to come. The pause is a millisecond.
		if !wait() {
			return false
		}
	}
	target := l.queued.Load()
	raiseTo(&l.syncTarget, target)
	for l.delivered.Load() < target {
		if !l.running.Load() || !wait() {
			return false
		}
	}
	return true
}

// raiseTo sets v to at least x. Targets only grow (queued does), so a
// concurrent Sync never lowers another's.
func raiseTo(v *atomic.Uint64, x uint64) {
	for cur := v.Load(); cur < x; cur = v.Load() {
		if v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// pauseDelay is the reader's pause after a burst: shorter than the audit
// reader's, so that a fork is usually applied before the exec that needs
// it arrives from audit. Measured in the exec storm, half the audit pause
// halved the ancestry's catch-ups (Sync) and lowered gosquery's CPU.
const pauseDelay = nlbatch.CoalesceDelay / 2

// signalProgress wakes a waiting Sync to check again.
func (l *Listener) signalProgress() {
	if l.syncers.Load() > 0 {
		select {
		case l.progress <- struct{}{}:
		default:
		}
	}
}

// Run parses what the reader collected and calls fn for every Fork, Exec and
// Exit event, in the order received (events from different CPUs may arrive
// slightly out of timestamp order). It returns ctx.Err() when ctx is done,
// and nil once the Listener is closed and everything queued before Close
// has been delivered. fn runs on Run's goroutine and should be quick: while
// it runs, events queue in the channel and are dropped (Stats.Drops) once
// it is full. Only one Run may be active at a time; a later Run continues
// where the previous one stopped.
func (l *Listener) Run(ctx context.Context, fn func(Event)) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("procconn: Run is already active")
	}
	defer l.running.Store(false)
	for len(l.pending) > 0 {
		d := l.pending[0]
		l.pending[0] = nil
		l.pending = l.pending[1:]
		l.deliver(d, fn)
	}
	l.pending = nil
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-l.ch:
			if !ok {
				return nil
			}
			l.deliver(d, fn)
		}
	}
}

// deliver parses one datagram, counts its events and passes on the ones
// the ancestry needs.
func (l *Listener) deliver(d []byte, fn func(Event)) {
	evs, err := AppendMessage(l.events[:0], d)
	l.events = evs
	if err != nil {
		l.stats.parseErrors.Add(1)
	}
	off := l.suspendOffset()
	for i := range evs {
		ev := evs[i]
		switch ev.Kind {
		case Fork:
			l.stats.forks.Add(1)
		case Exec:
			l.stats.execs.Add(1)
		case Exit:
			l.stats.exits.Add(1)
		default:
			l.stats.other.Add(1)
			continue
		}
		if off != 0 {
			ev.BootNS = uint64(int64(ev.MonotonicNS) + off)
			ev.Ticks = ev.BootNS / nsPerTick
		}
		fn(ev)
	}
	if l.delivered.Add(1) >= l.syncTarget.Load() {
		l.signalProgress()
	}
}

// suspendOffset returns CLOCK_BOOTTIME - CLOCK_MONOTONIC, re-read every
// offsetEvery: the time the machine spent suspended, which /proc's start
// times include and the connector's timestamps do not.
func (l *Listener) suspendOffset() int64 {
	now := time.Now()
	if l.offsetAt.IsZero() || now.Sub(l.offsetAt) >= offsetEvery {
		l.offset, l.offsetAt = measureSuspendOffset(), now
	}
	return l.offset
}

func measureSuspendOffset() int64 {
	var m1, b, m2 unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1) != nil ||
		unix.ClockGettime(unix.CLOCK_BOOTTIME, &b) != nil ||
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2) != nil {
		return 0
	}
	off := b.Nano() - (m1.Nano()+m2.Nano())/2
	// Without a suspend the offset is exactly zero; what is measured is
	// the gap between the reads, which must not move events across a tick.
	if off < int64(time.Millisecond) && off > -int64(time.Millisecond) {
		return 0
	}
	return off
}

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	return Stats{
		Datagrams:   l.stats.datagrams.Load(),
		Forks:       l.stats.forks.Load(),
		Execs:       l.stats.execs.Load(),
		Exits:       l.stats.exits.Load(),
		Other:       l.stats.other.Load(),
		Overruns:    l.stats.overruns.Load(),
		Drops:       l.stats.drops.Load(),
		ParseErrors: l.stats.parseErrors.Load(),
		Foreign:     l.stats.foreign.Load(),
	}
}

// Filtered reports whether the kernel filters events for this subscriber
// (Linux 6.6+), so only fork, exec and exit events are queued.
func (l *Listener) Filtered() bool { return l.filtered }

// RcvBuf is the socket receive buffer the kernel granted, in bytes (the
// kernel reports twice the size asked for, to cover its bookkeeping).
func (l *Listener) RcvBuf() int { return l.rcvBuf }

// Close unsubscribes (PROC_CN_MCAST_IGNORE, so the kernel's listener count
// drops and it stops building events nobody reads; closing the socket frees
// its filter but does not lower the count) and closes the socket.
// It waits for the reader goroutine; a Run returns nil once it has
// delivered what was queued. Calling Close again returns the first result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		// Best effort: the socket is closed either way, and the kernel
		// also drops a closed socket's filter state.
		_ = l.send(subscribeMessage(procCnMcastIgnore, 0, ackNumber(), ackNumber(), l.portID))
		l.closed.Store(true)
		l.sock.Stop()
		l.closeErr = l.f.Close()
		<-l.readerDone
	})
	return l.closeErr
}

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor; an unparsable release counts as new enough, since the
// filter probe is harmless on an old kernel.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return true
	}
	ma, mi, ok := parseRelease(unix.ByteSliceToString(u.Release[:]))
	if !ok {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

// parseRelease reads "6.18.44-fc" as 6, 18.
func parseRelease(s string) (major, minor int, ok bool) {
	num := func() (int, bool) {
		v, i := 0, 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 6; i++ {
			v = v*10 + int(s[i]-'0')
		}
		if i == 0 {
			return 0, false
		}
		s = s[i:]
		return v, true
	}
	if major, ok = num(); !ok || len(s) == 0 || s[0] != '.' {
		return 0, 0, false
	}
	s = s[1:]
	if minor, ok = num(); !ok {
		return 0, 0, false
	}
	return major, minor, true
}
