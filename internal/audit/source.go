package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/nlbatch"
	"github.com/gosquery/gosquery/internal/procfs"
)

// Mode is how a Source receives records.
type Mode int

const (
	// ModeNone: not receiving (closed, or not opened).
	ModeNone Mode = iota
	// ModeDaemon: registered as the audit daemon (AUDIT_SET pid); records
	// are unicast to us and the kernel's backlog applies to us.
	ModeDaemon
	// ModeMulticast: reading the read-only multicast group
	// AUDIT_NLGRP_READLOG, beside another daemon or none.
	ModeMulticast
)

func (m Mode) String() string {
	switch m {
	case ModeDaemon:
		return "daemon"
	case ModeMulticast:
		return "multicast"
	}
	return "none"
}

// DefaultKey tags the rules a Source installs.
const DefaultKey = "gosquery"

// Config says what a Source may do. The names in parentheses are the
// osquery flags the fields stand for.
type Config struct {
	// AllowConfig lets the Source change the audit configuration
	// (audit_allow_config): become the daemon, enable audit, set the
	// backlog, install rules. Without it the Source only reads the
	// multicast group and installs nothing.
	AllowConfig bool
	// ForceReconfigure deletes every audit rule on the machine, not only
	// ours, before installing ours (audit_force_reconfigure).
	ForceReconfigure bool
	// Persist re-acquires the daemon slot when another process has taken
	// it and then gone, and takes it when it becomes free while we read
	// the multicast group (audit_persist).
	Persist bool
	// Key tags our rules; rules carrying it are deleted at Open (left over
	// by a crashed run) and at Close. Default DefaultKey.
	Key string
	// Syscalls to install rules for, by name; each gets a b64 and a b32
	// rule entry in its own numbering. Default ExecSyscalls.
	Syscalls []string
	// BacklogLimit is set when configuring (audit_backlog_limit). 0 means
	// osquery's default 4096; the notes recommend 8192; negative leaves the
	// kernel's value.
	BacklogLimit int
	// BacklogWaitTime in jiffies (audit_backlog_wait_time). 0 (osquery's
	// default) makes a full backlog drop and count records in the kernel's
	// lost counter instead of stalling every audited task; negative leaves
	// the kernel's value (60 s on a stock kernel).
	BacklogWaitTime int
	// RcvBuf is the receive buffer forced on the socket (SO_RCVBUFFORCE,
	// SO_RCVBUF if not permitted). Default 32 MiB: a smaller buffer loses
	// records silently once the reader falls behind.
	RcvBuf int
	// QueueLen and QueueBytes bound the datagrams queued between the
	// reader and the parser. Defaults 65536 and 64 MiB.
	QueueLen   int
	QueueBytes int
	// Reassembly bounds event reassembly.
	Reassembly ReassemblerConfig
	// StatusInterval is how often the kernel status is read (counters,
	// ownership). Default 1 s.
	StatusInterval time.Duration
	// Timeout bounds each control request. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives warnings (ownership lost, restore failures). Default:
	// discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.Syscalls == nil {
		c.Syscalls = ExecSyscalls
	}
	if c.BacklogLimit == 0 {
		c.BacklogLimit = 4096
	}
	if c.RcvBuf <= 0 {
		c.RcvBuf = 32 << 20
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 65536
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 64 << 20
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats is what an audit_status table shows: the kernel's status and the
// Source's counters. Every way a record can be lost has a counter; Lost
// sums them.
type Stats struct {
	Mode Mode
	Key  string
	// Kernel is the last AUDIT_GET answer, read at StatusTime.
	Kernel     Status
	StatusTime time.Time
	// KernelLost is how much the kernel's lost counter grew since Open
	// (backlog full, rate limit, no memory).
	KernelLost uint64

	Datagrams uint64 // datagrams read
	Records   uint64 // records parsed
	Events    uint64 // events handed to the consumer
	Execs     uint64 // of which successful execve/execveat
	// SelfDropped counts events of our own process (our control requests
	// are audited too), not handed over.
	SelfDropped uint64

	ENOBUFS   uint64 // socket overruns: the kernel could not queue records for us
	Drops     uint64 // datagrams dropped because the queue to the parser was full
	Truncated uint64 // datagrams longer than the read buffer
	// Gaps counts serials never seen (possible loss); Timeouts events
	// whose EOE never came; both come from the reassembler.
	Gaps         uint64
	Timeouts     uint64
	Incomplete   uint64 // events handed over flagged Incomplete
	Evicted      uint64 // events handed over early to bound memory
	Oversize     uint64 // records dropped from oversized events
	Late         uint64 // duplicate records after an event's EOE
	Unterminated uint64 // events the kernel never closes (no SYSCALL), handed over at the timeout
	ParseErrors  uint64
	ReadErrors   uint64 // socket errors other than ENOBUFS

	OwnershipLost uint64 // times another process held the daemon slot we had
	Reacquired    uint64 // times we took the slot back (Persist)

	Queue    int // datagrams waiting for the parser
	QueueCap int
	Pending  int // events waiting for their EOE
	RcvBuf   int // receive buffer the kernel granted
	Rules    int // rules we installed
}

// Lost sums the counters that mean records were or may have been lost.
func (s Stats) Lost() uint64 {
	return s.KernelLost + s.ENOBUFS + s.Drops + s.Truncated + s.Gaps + s.Timeouts
}

// Source reads audit records, reassembles them into events and hands them
// to a consumer, after configuring the kernel as Config allows. A reader
// goroutine only receives datagrams into a bounded queue, so the kernel is
// never blocked by a slow consumer (what does not fit is dropped and
// counted); Run parses and reassembles.
//
// Audit state is machine-global and outlives the process: callers must
// call Close on SIGTERM/SIGINT and from a deferred function that also runs
// on panic (defer func() { src.Close(); if r := recover(); r != nil { panic(r) } }()).
// If the process dies without Close, the next Open with the same Key
// removes the rules left behind and takes the daemon slot back.
type Source struct {
	cfg  Config
	log  *slog.Logger
	self uint32

	ctrl *Client
	rc   *conn

	queue       chan burst
	queuedBytes atomic.Int64
	ctrlReplies chan Message
	regSeq      atomic.Uint32

	mu         sync.Mutex
	mode       Mode
	multicast  bool // member of AUDIT_NLGRP_READLOG
	wantDaemon bool
	configured bool
	orig       Status
	set        Status // values we set; set.Mask says which
	rules      []Rule
	kernel     Status
	statusTime time.Time
	lastLost   uint32
	haveLost   bool
	kernelLost uint64
	rcvBuf     int
	reasm      ReassemblerStats

	datagrams, records, events, execs, selfDropped   atomic.Uint64
	enobufs, drops, truncated, parseErrors, readErrs atomic.Uint64
	ownershipLost, reacquired                        atomic.Uint64

	stop          chan struct{} // closed by Close: supervisor stops
	readerDone    chan struct{} // closed by the reader when it exits
	superDone     chan struct{}
	running       atomic.Bool
	readerStarted bool
	closeOnce     sync.Once
	closeErr      error
	// tap, if set before Run, sees every datagram Run processes (tests).
	tap func([]byte)
}

// Open sets up a Source as cfg allows (see Config) and starts reading;
// events are buffered until Run is called. ctx bounds the setup.
//
// With AllowConfig, in this order: read and remember the status; force a
// large receive buffer; become the audit daemon from the receiving socket,
// or on EEXIST (another daemon, e.g. auditd) read the multicast group;
// delete our stale rules (all rules with ForceReconfigure); set
// backlog_limit and backlog_wait_time; enable audit if it is off; install a
// b64 and a b32 rule for the configured syscalls. An immutable audit
// configuration (enabled=2) is read only.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	for _, name := range cfg.Syscalls {
		_, ok64 := SyscallNumber(ArchX86_64, name)
		_, ok32 := SyscallNumber(ArchI386, name)
		if !ok64 && !ok32 {
			return nil, fmt.Errorf("audit: open: unknown syscall %q", name)
		}
	}
	s := &Source{
		cfg: cfg, log: cfg.Logger, self: uint32(os.Getpid()),
		queue:       make(chan burst, cfg.QueueLen),
		ctrlReplies: make(chan Message, 16),
		stop:        make(chan struct{}),
		readerDone:  make(chan struct{}),
		superDone:   make(chan struct{}),
	}
	if err := s.open(ctx); err != nil {
		close(s.superDone) // the supervisor never started
		if !s.readerStarted {
			close(s.readerDone)
		}
		s.Close()
		return nil, err
	}
	// Stats should show the state we just set up, not the one we found.
	if st, err := s.ctrl.GetStatus(); err == nil {
		s.updateStatus(st)
	}
	go s.supervise()
	return s, nil
}

func (s *Source) open(ctx context.Context) error {
	ctrl, err := NewClient()
	if err != nil {
		return err
	}
	ctrl.SetTimeout(s.cfg.Timeout)
	s.ctrl = ctrl
	st, stErr := ctrl.GetStatus()
	if stErr != nil && s.cfg.AllowConfig {
		return stErr
	}
	if stErr == nil {
		s.orig, s.kernel, s.statusTime = st, st, time.Now()
		s.lastLost, s.haveLost = st.Lost, true
	}
	rc, err := openReadConn()
	if err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	s.rc = rc
	s.setRcvBuf()
	s.readerStarted = true
	go s.read()

	if !s.cfg.AllowConfig || st.Enabled == Immutable {
		if stErr == nil && st.Enabled == Immutable && s.cfg.AllowConfig {
			s.log.Warn("audit configuration is immutable; reading only")
		}
		if err := s.joinMulticast(); err != nil {
			return err
		}
		s.setMode(ModeMulticast)
		return nil
	}

	s.wantDaemon = true
	// From here on Close has something to undo.
	s.configured = true
	switch err := s.register(ctx); {
	case err == nil:
		s.setMode(ModeDaemon)
	case errors.Is(err, unix.EEXIST):
		s.log.Info("another audit daemon is registered; reading the multicast group", "pid", st.PID)
		if err := s.joinMulticast(); err != nil {
			return err
		}
		s.setMode(ModeMulticast)
	default:
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	if err := s.deleteRules(s.cfg.ForceReconfigure); err != nil {
		return err
	}
	if err := s.configure(st); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	return s.installRules()
}

func (s *Source) setMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

func (s *Source) setRcvBuf() {
	if err := s.rc.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, s.cfg.RcvBuf); err != nil {
		s.log.Debug("SO_RCVBUFFORCE refused; falling back to SO_RCVBUF", "err", err)
		_ = s.rc.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, s.cfg.RcvBuf)
	}
	if v, err := s.rc.getsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		s.mu.Lock()
		s.rcvBuf = v
		s.mu.Unlock()
	}
}

// ErrMulticastNamespace says that the multicast group is joined but cannot
// deliver: the kernel sends audit's multicast to the initial network
// namespace only.
var ErrMulticastNamespace = errors.New("audit: the multicast group delivers only in the initial network namespace")

// MulticastReachable returns ErrMulticastNamespace when this process is
// known to be outside the initial network namespace, nil when it is inside
// or that cannot be told.
func MulticastReachable() error {
	if in, err := procfs.New("/proc").InInitialNetNS(); err == nil && !in {
		return ErrMulticastNamespace
	}
	return nil
}

func (s *Source) joinMulticast() error {
	if err := MulticastReachable(); err != nil {
		s.log.Warn(err.Error() + "; this process is in another one and will receive no audit events")
	}
	if err := s.rc.setsockoptInt(unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, unix.AUDIT_NLGRP_READLOG); err != nil {
		return fmt.Errorf("audit: join multicast group: %w", err)
	}
	s.mu.Lock()
	s.multicast = true
	s.mu.Unlock()
	return nil
}

func (s *Source) leaveMulticast() error {
	if err := s.rc.setsockoptInt(unix.SOL_NETLINK, unix.NETLINK_DROP_MEMBERSHIP, unix.AUDIT_NLGRP_READLOG); err != nil {
		return fmt.Errorf("audit: leave multicast group: %w", err)
	}
	s.mu.Lock()
	s.multicast = false
	s.mu.Unlock()
	return nil
}

// register sends AUDIT_SET pid=self from the receiving socket: the kernel
// unicasts records to the portid the request came from. The reader
// goroutine owns that socket, so it forwards the ACK to ctrlReplies.
func (s *Source) register(ctx context.Context) error {
	seq := s.regSeq.Add(1)
	req := encodeRequest(typeSet, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq,
		Status{Mask: StatusPID, PID: s.self}.Marshal())
	if err := s.rc.send(req); err != nil {
		return fmt.Errorf("audit: register as daemon: %w", err)
	}
	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	for {
		select {
		case m := <-s.ctrlReplies:
			if m.Seq != seq || m.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.LittleEndian.Uint32(m.Data)); code < 0 {
				return fmt.Errorf("audit: register as daemon: %w", syscall.Errno(-code))
			}
			return nil
		case <-t.C:
			return fmt.Errorf("audit: register as daemon: %w", os.ErrDeadlineExceeded)
		case <-ctx.Done():
			return fmt.Errorf("audit: register as daemon: %w", ctx.Err())
		case <-s.readerDone:
			return fmt.Errorf("audit: register as daemon: %w", os.ErrClosed)
		}
	}
}

// deleteRules removes rules carrying our key (all rules if all is set).
func (s *Source) deleteRules(all bool) error {
	rules, err := s.ctrl.ListRules()
	if err != nil {
		return err
	}
	for _, r := range rules {
		if !all && r.Key() != s.cfg.Key {
			continue
		}
		if err := s.ctrl.DeleteRule(r); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		s.log.Info("deleted audit rule", "rule", r.String())
	}
	return nil
}

// configure sets the backlog and enables audit, remembering what it
// changed so Close can put it back.
func (s *Source) configure(st Status) error {
	var want Status
	if s.cfg.BacklogLimit > 0 && uint32(s.cfg.BacklogLimit) != st.BacklogLimit {
		want.Mask |= StatusBacklogLimit
		want.BacklogLimit = uint32(s.cfg.BacklogLimit)
	}
	if s.cfg.BacklogWaitTime >= 0 && uint32(s.cfg.BacklogWaitTime) != st.BacklogWaitTime {
		want.Mask |= StatusBacklogWaitTime
		want.BacklogWaitTime = uint32(s.cfg.BacklogWaitTime)
	}
	if st.Enabled == Disabled {
		want.Mask |= StatusEnabled
		want.Enabled = Enabled
	}
	// One field per request: a rejected value (say a wait time above
	// 10*60*HZ) must not leave us unsure which of the others applied.
	for _, bit := range []uint32{StatusBacklogLimit, StatusBacklogWaitTime, StatusEnabled} {
		if want.Mask&bit == 0 {
			continue
		}
		req := want
		req.Mask = bit
		if err := s.ctrl.SetStatus(req); err != nil {
			return err
		}
		s.mu.Lock()
		s.set.Mask |= bit
		s.set.BacklogLimit, s.set.BacklogWaitTime, s.set.Enabled = want.BacklogLimit, want.BacklogWaitTime, want.Enabled
		s.mu.Unlock()
	}
	return nil
}

func (s *Source) installRules() error {
	for _, arch := range []Arch{ArchX86_64, ArchI386} {
		nrs := syscallNumbers(arch, s.cfg.Syscalls)
		if len(nrs) == 0 {
			continue
		}
		r := SyscallRule(arch, nrs, s.cfg.Key)
		err := s.ctrl.AddRule(r)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		// EEXIST: an identical rule with our key appeared since we
		// deleted ours; it is ours to remove all the same.
		s.mu.Lock()
		s.rules = append(s.rules, r)
		s.mu.Unlock()
	}
	return nil
}

// readBatchMax bounds a burst the reader hands over at once.
const readBatchMax = 128

// read is the reader goroutine: receive, queue, nothing else. It waits
// for the next datagram and takes everything queued behind it; the burst
// is handed over in one piece (under an exec storm each
// event is about eight datagrams, and a hand-off per datagram cost more
// than parsing them), then the reader pauses so the next burst is taken
// whole (nlbatch.Pause).
func (s *Source) read() {
	defer close(s.readerDone)
	defer s.rc.sock.Release()
	br := nlbatch.New(32, recvBufSize)
	for {
		if !s.rc.sock.WaitReadable() {
			return // closed
		}
		at := time.Now()
		var batch [][]byte
		for len(batch) < readBatchMax {
			got, err := br.Recv(s.rc.rc)
			if err != nil {
				if s.readFailed(s.rc.fail(err)) {
					s.enqueue(burst{batch, at})
					return
				}
				break
			}
			for i := range got {
				data, cut, port := br.Datagram(i)
				size := len(data)
				if cut {
					size = len(data) + 1 // accept counts it as truncated
				}
				if d, ok := s.accept(data, size, port == 0 || s.rc.anySender); ok {
					batch = append(batch, d)
				}
			}
			if got < br.Cap() {
				break
			}
		}
		s.enqueue(burst{batch, at})
		nlbatch.Pause(len(batch), nlbatch.CoalesceDelay, nil)
	}
}

// readFailed counts a receive error and reports whether the socket is
// closed.
func (s *Source) readFailed(err error) (closed bool) {
	switch {
	case errors.Is(err, unix.ENOBUFS):
		s.enobufs.Add(1)
	case errors.Is(err, os.ErrClosed):
		return true
	case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
	default:
		s.readErrs.Add(1)
		s.log.Warn("audit socket read failed", "err", err)
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// accept checks one received datagram and returns a copy to queue. Control
// replies go to the control path; over-long and foreign datagrams are
// dropped and counted.
func (s *Source) accept(buf []byte, n int, fromKernel bool) ([]byte, bool) {
	if !fromKernel {
		return nil, false
	}
	if n > len(buf) {
		s.truncated.Add(1)
		return nil, false
	}
	if n >= nlHeaderLen {
		typ := binary.LittleEndian.Uint16(buf[4:])
		if typ == unix.NLMSG_ERROR {
			// The answer to register(); records never have this type.
			if msgs, _ := ParseDatagram(buf[:n]); len(msgs) > 0 {
				m := msgs[0]
				m.Data = append([]byte(nil), m.Data...)
				select {
				case s.ctrlReplies <- m:
				default:
				}
			}
			return nil, false
		}
	}
	if s.queuedBytes.Add(int64(n)) > int64(s.cfg.QueueBytes) {
		s.queuedBytes.Add(-int64(n))
		s.drops.Add(1)
		return nil, false
	}
	d := make([]byte, n)
	copy(d, buf[:n])
	return d, true
}

// burst is what one receive round took off the socket.
type burst struct {
	data [][]byte
	// at is when the round began: every record in it was emitted by the
	// kernel before then (Event.Received).
	at time.Time
}

// enqueue hands a burst to the parser, or drops and counts it when the
// queue is full: the kernel is never made to wait.
func (s *Source) enqueue(b burst) {
	if len(b.data) == 0 {
		return
	}
	select {
	case s.queue <- b:
	default:
		for _, d := range b.data {
			s.queuedBytes.Add(-int64(len(d)))
		}
		s.drops.Add(uint64(len(b.data)))
	}
}

// Run parses, reassembles and hands events to fn until ctx is done or the
// Source is closed; it can be called once. After Close it first processes
// everything already received and hands over pending events (incomplete
// where their EOE was due), then returns nil. fn runs on Run's goroutine;
// while it blocks, datagrams queue up to Config.QueueLen/QueueBytes and are
// dropped (counted) beyond that, never blocking the kernel.
func (s *Source) Run(ctx context.Context, fn func(Event)) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("audit: run: already running")
	}
	r := NewReassembler(s.cfg.Reassembly, func(ev Event) { s.deliver(ev, fn) })
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	finish := func() {
		for {
			select {
			case b := <-s.queue:
				for _, d := range b.data {
					s.handle(r, d, b.at)
				}
				continue
			default:
			}
			break
		}
		r.Flush()
		s.publish(r)
	}
	for {
		select {
		case b := <-s.queue:
			for _, d := range b.data {
				s.handle(r, d, b.at)
			}
			// Keep the reassembler's counters fresh without locking per
			// datagram.
			s.publish(r)
		case <-tick.C:
			// Expire only when caught up: a queued record may be the
			// EOE of an event that looks overdue.
			if len(s.queue) == 0 {
				r.Expire(time.Now())
			}
			s.publish(r)
		case <-s.readerDone:
			finish()
			return nil
		case <-ctx.Done():
			finish()
			return ctx.Err()
		}
	}
}

func (s *Source) handle(r *Reassembler, d []byte, received time.Time) {
	s.queuedBytes.Add(-int64(len(d)))
	if s.tap != nil {
		s.tap(d)
	}
	s.datagrams.Add(1)
	recs, errs := ParseMessages(d)
	if errs > 0 {
		s.parseErrors.Add(uint64(errs))
	}
	s.records.Add(uint64(len(recs)))
	for _, rec := range recs {
		r.Push(rec, received)
	}
}

func (s *Source) publish(r *Reassembler) {
	st := r.Stats()
	s.mu.Lock()
	s.reasm = st
	s.mu.Unlock()
}

func (s *Source) deliver(ev Event, fn func(Event)) {
	if pid, ok := eventPID(&ev); ok && pid == int64(s.self) {
		s.selfDropped.Add(1)
		return
	}
	s.events.Add(1)
	if isExecEvent(&ev) {
		s.execs.Add(1)
	}
	fn(ev)
}

// eventPID is the pid of the process an event is about: the SYSCALL
// record's, else the first pid field (records logged during a syscall, such
// as CONFIG_CHANGE, come before its SYSCALL record).
func eventPID(ev *Event) (int64, bool) {
	if sc, ok := ev.First(TypeSyscall); ok {
		return sc.Int("pid")
	}
	for i := range ev.Records {
		if pid, ok := ev.Records[i].Int("pid"); ok {
			return pid, true
		}
	}
	return 0, false
}

// isExecEvent is a cheap test for a successful execve/execveat.
func isExecEvent(ev *Event) bool {
	sc, ok := ev.First(TypeSyscall)
	if !ok {
		return false
	}
	if v, _ := sc.Get("success"); v != "yes" {
		return false
	}
	arch, _ := sc.Hex("arch")
	nr, _ := sc.Int("syscall")
	name, _ := SyscallName(Arch(arch), int(nr))
	return syscallKind(name) == "exec"
}

// supervise reads the kernel status every StatusInterval: counters, and
// who owns the daemon slot.
func (s *Source) supervise() {
	defer close(s.superDone)
	t := time.NewTicker(s.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.poll()
		}
	}
}

func (s *Source) updateStatus(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kernel, s.statusTime = st, time.Now()
	if s.haveLost {
		if st.Lost >= s.lastLost {
			s.kernelLost += uint64(st.Lost - s.lastLost)
		} else {
			s.kernelLost += uint64(st.Lost) // reset by someone meanwhile
		}
	}
	s.lastLost, s.haveLost = st.Lost, true
}

func (s *Source) poll() {
	st, err := s.ctrl.GetStatus()
	if err != nil {
		s.log.Debug("audit status", "err", err)
		return
	}
	s.updateStatus(st)
	s.mu.Lock()
	mode, want := s.mode, s.wantDaemon
	s.mu.Unlock()
	if !want {
		return
	}
	free := st.PID == 0 || !pidAlive(st.PID)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	switch {
	case mode == ModeDaemon && st.PID != s.self:
		s.ownershipLost.Add(1)
		s.log.Warn("lost the audit daemon slot", "owner", st.PID)
		if s.cfg.Persist && free {
			if err := s.register(ctx); err == nil {
				s.reacquired.Add(1)
				return
			}
		}
		// Keep receiving through the multicast group meanwhile.
		if err := s.joinMulticast(); err != nil {
			s.log.Warn("audit: cannot fall back to the multicast group", "err", err)
			s.setMode(ModeNone)
			return
		}
		s.setMode(ModeMulticast)
	case mode != ModeDaemon && s.cfg.Persist && free:
		if err := s.register(ctx); err != nil {
			s.log.Debug("audit: re-acquire daemon slot", "err", err)
			return
		}
		s.reacquired.Add(1)
		// Registered first, then left the group: a record or two may come
		// twice (the reassembler drops duplicates after EOE), none is lost.
		if err := s.leaveMulticast(); err != nil {
			s.log.Warn("audit", "err", err)
		}
		s.setMode(ModeDaemon)
	}
}

// pidAlive reports whether process pid exists (EPERM means it does).
func pidAlive(pid uint32) bool {
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Mode is how the Source currently receives.
func (s *Source) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// Stats returns the kernel status (as of the last poll) and our counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Mode: s.mode, Key: s.cfg.Key,
		Kernel: s.kernel, StatusTime: s.statusTime, KernelLost: s.kernelLost,
		Datagrams: s.datagrams.Load(), Records: s.records.Load(), Events: s.events.Load(),
		Execs: s.execs.Load(), SelfDropped: s.selfDropped.Load(),
		ENOBUFS: s.enobufs.Load(), Drops: s.drops.Load(), Truncated: s.truncated.Load(),
		Gaps: s.reasm.Gaps, Timeouts: s.reasm.Timeouts, Incomplete: s.reasm.Incomplete,
		Evicted: s.reasm.Evicted, Oversize: s.reasm.Oversize, Late: s.reasm.Late,
		Unterminated: s.reasm.Unterminated,
		ParseErrors:  s.parseErrors.Load(), ReadErrors: s.readErrs.Load(),
		OwnershipLost: s.ownershipLost.Load(), Reacquired: s.reacquired.Load(),
		Queue: len(s.queue), QueueCap: cap(s.queue), Pending: s.reasm.Pending,
		RcvBuf: s.rcvBuf, Rules: len(s.rules),
	}
}

// Close undoes what Open changed: it deletes our rules, gives the daemon
// slot back (pid 0) if we hold it, and restores enabled, backlog_limit and
// backlog_wait_time to their values before we changed them — each only if
// it still holds the value we set, and enabled only if no other daemon has
// registered meanwhile (disabling audit under auditd would blind it). Then
// it closes the sockets; Run processes what was received and returns.
//
// Close is idempotent and safe to call concurrently (later calls wait for
// the first and return its result). It does not wait for Run, so it may
// be called from the consumer callback, a signal-handling goroutine or a
// deferred recover; every kernel request in it has a deadline.
func (s *Source) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Source) close() error {
	close(s.stop)
	<-s.superDone
	var errs []error
	if s.ctrl != nil && s.configured {
		errs = append(errs, s.unconfigure()...)
	}
	if s.rc != nil {
		if err := s.rc.close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	<-s.readerDone
	if s.ctrl != nil {
		s.ctrl.Close()
	}
	s.setMode(ModeNone)
	return errors.Join(errs...)
}

func (s *Source) unconfigure() []error {
	var errs []error
	s.mu.Lock()
	rules := s.rules
	s.rules = nil
	set := s.set
	orig := s.orig
	s.mu.Unlock()
	for _, r := range rules {
		if err := s.ctrl.DeleteRule(r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	st, err := s.ctrl.GetStatus()
	if err != nil {
		return append(errs, err)
	}
	s.updateStatus(st)
	if st.PID == s.self {
		if err := s.ctrl.SetStatus(Status{Mask: StatusPID, PID: 0}); err != nil {
			errs = append(errs, err)
		} else {
			st.PID = 0
		}
	}
	otherDaemon := st.PID != 0 && st.PID != s.self && pidAlive(st.PID)
	var restore Status
	if set.Mask&StatusBacklogLimit != 0 && st.BacklogLimit == set.BacklogLimit {
		restore.Mask |= StatusBacklogLimit
		restore.BacklogLimit = orig.BacklogLimit
	}
	if set.Mask&StatusBacklogWaitTime != 0 && st.BacklogWaitTime == set.BacklogWaitTime {
		restore.Mask |= StatusBacklogWaitTime
		restore.BacklogWaitTime = orig.BacklogWaitTime
	}
	if set.Mask&StatusEnabled != 0 && st.Enabled == set.Enabled && !otherDaemon {
		restore.Mask |= StatusEnabled
		restore.Enabled = orig.Enabled
	} else if set.Mask&StatusEnabled != 0 && otherDaemon {
		s.log.Info("leaving audit enabled: another daemon registered", "pid", st.PID)
	}
	for _, bit := range []uint32{StatusEnabled, StatusBacklogLimit, StatusBacklogWaitTime} {
		if restore.Mask&bit == 0 {
			continue
		}
		req := restore
		req.Mask = bit
		if err := s.ctrl.SetStatus(req); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	s.set = Status{}
	s.mu.Unlock()
	return errs
}
