// Package procconn is a client for the Linux proc connector
// (NETLINK_CONNECTOR, multicast group CN_IDX_PROC): the kernel's stream of
// fork, exec and exit notifications for every process on the machine.
//
// It feeds the process ancestry cache with who forked whom, when, and when a
// process ended, complementing audit's exec records (which carry argv and
// paths but no forks and no exits). The connector carries pids only: no
// argv, exe or cwd.
//
// The wire format, from include/uapi/linux/connector.h and cn_proc.h (all
// little-endian on the machines we run on, in fact host order):
//
//	nlmsghdr   16 bytes  len u32, type u16 (NLMSG_DONE), flags u16, seq u32, pid u32
//	cn_msg     20 bytes  idx u32 (1), val u32 (1), seq u32, ack u32, len u16, flags u16
//	proc_event           what u32, cpu u32, timestamp_ns u64, event_data (24 bytes)
//
// event_data is, by what:
//
//	FORK  parent_pid, parent_tgid, child_pid, child_tgid
//	EXEC  pid, tgid
//	EXIT  pid, tgid, exit_code, exit_signal, parent_pid, parent_tgid
//	NONE  err (the acknowledgement of a subscription)
//
// The kernel's "pid" is the thread id and its "tgid" the process id, so a
// thread shows up as pid != tgid.
//
// Subscribing: [Listen] opens the socket, subscribes, and starts a reader
// goroutine whose only job is to receive bursts into a buffered channel, so
// the socket is drained as fast as the kernel fills it; parsing and the
// caller's callback run in [Listener.Run], and [Listener.Sync] lets another
// event source wait until what is queued has been through the callback. Since Linux 6.6 a subscriber may pass an
// event mask (struct proc_input) and the kernel drops other events before
// they are queued; Listen uses it for fork|exec|exit when the kernel
// acknowledges it and falls back to the plain PROC_CN_MCAST_LISTEN
// otherwise. Since 6.6 no capability is needed; before that CAP_NET_ADMIN
// was. Either way the subscriber must be in the initial user and pid
// namespaces (pids are init-namespace pids), or the kernel silently ignores
// it.
package procconn

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind is what a proc connector event reports (proc_event.what). The values
// are the kernel's, and are also the bits of the subscription mask.
type Kind uint32

// Event kinds. Only Fork, Exec and Exit are delivered by [Listener.Run];
// [ParseMessage] returns every kind.
const (
	Ack         Kind = 0x00000000 // PROC_EVENT_NONE: reply to a subscription
	Fork        Kind = 0x00000001
	Exec        Kind = 0x00000002
	UID         Kind = 0x00000004
	GID         Kind = 0x00000040
	SID         Kind = 0x00000080
	Ptrace      Kind = 0x00000100
	Comm        Kind = 0x00000200
	NonzeroExit Kind = 0x20000000 // a mask bit only: such exits arrive as Exit
	Coredump    Kind = 0x40000000
	Exit        Kind = 0x80000000
)

func (k Kind) String() string {
	switch k {
	case Ack:
		return "ack"
	case Fork:
		return "fork"
	case Exec:
		return "exec"
	case UID:
		return "uid"
	case GID:
		return "gid"
	case SID:
		return "sid"
	case Ptrace:
		return "ptrace"
	case Comm:
		return "comm"
	case NonzeroExit:
		return "nonzero_exit"
	case Coredump:
		return "coredump"
	case Exit:
		return "exit"
	}
	return fmt.Sprintf("kind(%#x)", uint32(k))
}

// TicksPerSecond is USER_HZ, the unit of /proc/<pid>/stat's starttime. It
// is 100 on every architecture Linux supports today, independent of the
// kernel's CONFIG_HZ.
const TicksPerSecond = 100

// nsPerTick is the divisor the kernel's nsec_to_clock_t uses.
const nsPerTick = 1_000_000_000 / TicksPerSecond

// Event is one proc connector notification.
//
// Field use by kind:
//
//	Fork  ParentPID/ParentTGID (the new task's real parent), ChildPID/ChildTGID,
//	      and PID/TGID = ChildPID/ChildTGID
//	Exec  PID/TGID
//	Exit  PID/TGID, ExitCode, ExitSignal, ParentPID/ParentTGID
//	      (0 when the task was already reaped: the kernel sends the event
//	      after exit_notify, and a parent waiting on another CPU, or
//	      auto-reaping, can release the task first; seen in about 1 of 500
//	      /bin/true exits here, so the parent is a hint, not a fact)
//	Coredump  PID/TGID, ParentPID/ParentTGID
//	UID, GID, SID, Ptrace, Comm  PID/TGID only
//	Ack   Err
//
// For a thread created with CLONE_THREAD (and for CLONE_PARENT) the kernel
// reports the creator's parent as ParentPID/ParentTGID, not the creator:
// thread forks say nothing about ancestry, see [Event.IsThread]. A process
// forked by a non-leader thread has that thread as ParentPID and the
// process as ParentTGID; ancestry should use the TGIDs.
type Event struct {
	Kind Kind
	// CPU the event was generated on.
	CPU uint32
	// Seq is cn_msg.seq: a per-CPU counter the kernel stamps on every
	// message, acks included. It also counts messages that other
	// subscribers' filters let through and ours did not, so a gap is not
	// loss.
	Seq uint32
	// AckNum is cn_msg.ack: 0 for events; for an Ack, the ack number of the
	// request it answers plus one, which is how a subscriber recognises its
	// own ack among those sent to every subscriber.
	AckNum uint32
	// MonotonicNS is the kernel's timestamp_ns: ktime_get_ns(), i.e.
	// CLOCK_MONOTONIC, nanoseconds since boot not counting suspend.
	MonotonicNS uint64
	// Ticks is the event time in USER_HZ ticks since boot, the unit of
	// field 22 (starttime) of /proc/<pid>/stat. For Fork it is the child's
	// start time and, with the child's pid, identifies the process.
	//
	// ParseMessage computes it as MonotonicNS / 10,000,000, the truncating
	// division the kernel's nsec_to_clock_t does. /proc's starttime is
	// task->start_boottime, read from CLOCK_BOOTTIME, which is
	// CLOCK_MONOTONIC plus the total time spent in suspend: on a machine
	// that never suspended the two clocks are the same clock, so the
	// values agree. They may still differ by one tick: start_boottime is
	// taken in copy_process a few microseconds before the fork event's
	// timestamp, and the two instants can fall on either side of a tick
	// boundary. A Listener adds the measured suspend offset
	// (CLOCK_BOOTTIME - CLOCK_MONOTONIC, re-read every second) so that
	// Ticks stays comparable with /proc after a suspend.
	Ticks uint64
	// BootNS is the event time on CLOCK_BOOTTIME, in nanoseconds: Ticks
	// before the division. Where it falls within its tick says how likely
	// a fork's Ticks is to be one later than /proc's start time (see
	// Ticks): only just after a boundary can the few microseconds between
	// the two readings cross one.
	BootNS uint64
	// PID is the thread id and TGID the process id of the task the event
	// is about (for Fork: the new task).
	PID, TGID             int32
	ParentPID, ParentTGID int32
	ChildPID, ChildTGID   int32
	// ExitCode is the task's exit_code, in the wait(2) status encoding:
	// see [Event.WaitStatus].
	ExitCode uint32
	// ExitSignal is the signal the parent is sent when the task exits
	// (SIGCHLD normally, -1 for non-leader threads, which notify nobody).
	ExitSignal int32
	// Err is the errno the kernel reports in an Ack (0 = success).
	Err uint32
}

// IsThread reports whether the event concerns a thread rather than a
// process: a Fork creating a thread (child pid != child tgid) or the Exit of
// a non-leader thread. The ancestry cache must ignore these; a thread's Fork
// even names its creator's parent as the parent.
func (e Event) IsThread() bool { return e.PID != e.TGID }

// WaitStatus decodes ExitCode for an Exit event: Exited() and ExitStatus()
// for a normal exit, Signaled() and Signal() for a death by signal.
func (e Event) WaitStatus() WaitStatus { return WaitStatus(e.ExitCode) }

// WaitStatus is a wait(2) status word.
type WaitStatus uint32

// Exited reports whether the process called exit.
func (w WaitStatus) Exited() bool { return w&0x7f == 0 }

// ExitStatus is the exit status, or -1 if the process did not exit normally.
func (w WaitStatus) ExitStatus() int {
	if !w.Exited() {
		return -1
	}
	return int(w>>8) & 0xff
}

// Signaled reports whether the process was killed by a signal.
func (w WaitStatus) Signaled() bool { return w&0x7f != 0 && w&0x7f != 0x7f }

// Signal is the killing signal, or -1.
func (w WaitStatus) Signal() int {
	if !w.Signaled() {
		return -1
	}
	return int(w & 0x7f)
}

// CoreDump reports whether a killed process dumped core.
func (w WaitStatus) CoreDump() bool { return w.Signaled() && w&0x80 != 0 }

// Wire constants from include/uapi/linux/connector.h, cn_proc.h and
// netlink.h; x/sys/unix has none of the connector ones.
const (
	cnIdxProc = 1 // CN_IDX_PROC, also the multicast group
	cnValProc = 1 // CN_VAL_PROC

	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	procCnMcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	nlmsgHdrLen = 16
	cnMsgLen    = 20
	// procEventHdrLen is what, cpu and timestamp_ns; event_data follows.
	procEventHdrLen = 16
	// procEventLen is sizeof(struct proc_event): the kernel always sends
	// the whole union, whatever the kind.
	procEventLen = procEventHdrLen + 24

	nlmsgNoop  = 1 // NLMSG_NOOP
	nlmsgError = 2 // NLMSG_ERROR
	nlmsgDone  = 3 // NLMSG_DONE: what the connector uses for every message

	// maxMessage bounds a datagram: CONNECTOR_MAX_MSG_SIZE plus headers.
	maxMessage = 16384 + nlmsgHdrLen + cnMsgLen
)

// ErrMalformed is wrapped by every error ParseMessage returns.
var ErrMalformed = errors.New("procconn: malformed message")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// ParseMessage parses one datagram received on a proc connector socket.
// A datagram may hold several netlink messages (the kernel sends one per
// datagram, but nothing in the format says so). No length in the input is
// trusted. On malformed input it returns the events parsed so far (and
// after a bad message whose length still allows skipping it) together with
// an error wrapping ErrMalformed.
func ParseMessage(b []byte) ([]Event, error) {
	return AppendMessage(nil, b)
}

// AppendMessage is ParseMessage appending to dst, so a reader can reuse one
// slice and parse without allocating.
func AppendMessage(dst []Event, b []byte) ([]Event, error) {
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			note(malformed("%d trailing bytes, short of a netlink header", len(b)))
			break
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if n < nlmsgHdrLen || n > len(b) {
			note(malformed("netlink length %d with %d bytes left", n, len(b)))
			break
		}
		msg := b[nlmsgHdrLen:n]
		// Messages are 4-byte aligned; the padding of the last one may be
		// missing.
		adv := min((n+3)&^3, len(b))
		b = b[adv:]
		switch typ {
		case nlmsgDone:
		case nlmsgNoop:
			continue
		case nlmsgError:
			note(malformed("netlink error message"))
			continue
		default:
			note(malformed("netlink message type %d", typ))
			continue
		}
		ev, err := parseCnMsg(msg)
		if err != nil {
			note(err)
			continue
		}
		dst = append(dst, ev)
	}
	return dst, first
}

// parseCnMsg parses a cn_msg carrying one proc_event.
func parseCnMsg(b []byte) (Event, error) {
	if len(b) < cnMsgLen {
		return Event{}, malformed("%d bytes, short of a cn_msg", len(b))
	}
	idx := binary.NativeEndian.Uint32(b[0:4])
	val := binary.NativeEndian.Uint32(b[4:8])
	if idx != cnIdxProc || val != cnValProc {
		return Event{}, malformed("connector id %d.%d is not the proc connector", idx, val)
	}
	seq := binary.NativeEndian.Uint32(b[8:12])
	ackNum := binary.NativeEndian.Uint32(b[12:16])
	dlen := int(binary.NativeEndian.Uint16(b[16:18]))
	data := b[cnMsgLen:]
	if dlen > len(data) {
		return Event{}, malformed("cn_msg length %d with %d bytes left", dlen, len(data))
	}
	data = data[:dlen]
	if len(data) < procEventHdrLen {
		return Event{}, malformed("proc_event of %d bytes", len(data))
	}
	ev := Event{
		Kind:        Kind(binary.NativeEndian.Uint32(data[0:4])),
		CPU:         binary.NativeEndian.Uint32(data[4:8]),
		Seq:         seq,
		AckNum:      ackNum,
		MonotonicNS: binary.NativeEndian.Uint64(data[8:16]),
	}
	ev.BootNS = ev.MonotonicNS
	ev.Ticks = ev.BootNS / nsPerTick
	d := data[procEventHdrLen:]
	var need int
	switch ev.Kind {
	case Ack:
		need = 4
	case Fork, Ptrace, Coredump:
		need = 16
	case Exec, SID, Comm:
		need = 8
	case UID, GID:
		need = 16
	case Exit:
		need = 24
	default:
		// An unknown kind from a newer kernel: keep it, with what is common
		// to all (the kernel zeroes the union, so 8 bytes are there).
		need = 0
	}
	if len(d) < need {
		return Event{}, malformed("%s event data of %d bytes, need %d", ev.Kind, len(d), need)
	}
	i32 := func(off int) int32 {
		if off+4 > len(d) {
			return 0
		}
		return int32(binary.NativeEndian.Uint32(d[off:]))
	}
	switch ev.Kind {
	case Ack:
		ev.Err = binary.NativeEndian.Uint32(d[0:4])
	case Fork:
		ev.ParentPID, ev.ParentTGID = i32(0), i32(4)
		ev.ChildPID, ev.ChildTGID = i32(8), i32(12)
		ev.PID, ev.TGID = ev.ChildPID, ev.ChildTGID
	case Exit:
		ev.PID, ev.TGID = i32(0), i32(4)
		ev.ExitCode = uint32(i32(8))
		ev.ExitSignal = i32(12)
		ev.ParentPID, ev.ParentTGID = i32(16), i32(20)
	case Coredump:
		ev.PID, ev.TGID = i32(0), i32(4)
		ev.ParentPID, ev.ParentTGID = i32(8), i32(12)
	default:
		ev.PID, ev.TGID = i32(0), i32(4)
	}
	return ev, nil
}

// subscribeMessage builds the request a subscriber sends: a netlink header
// (type NLMSG_DONE, as the connector expects) and a cn_msg addressed to the
// proc connector, carrying either the 4-byte operation or, when mask is
// non-zero, the 8-byte struct proc_input {op, event mask} of Linux 6.6+.
func subscribeMessage(op uint32, mask Kind, seq, ack, portID uint32) []byte {
	payload := 4
	if mask != 0 {
		payload = 8
	}
	b := make([]byte, nlmsgHdrLen+cnMsgLen+payload)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], nlmsgDone)
	binary.NativeEndian.PutUint16(b[6:], 0)
	binary.NativeEndian.PutUint32(b[8:], seq)
	binary.NativeEndian.PutUint32(b[12:], portID)
	c := b[nlmsgHdrLen:]
	binary.NativeEndian.PutUint32(c[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(c[4:], cnValProc)
	binary.NativeEndian.PutUint32(c[8:], seq)
	binary.NativeEndian.PutUint32(c[12:], ack)
	binary.NativeEndian.PutUint16(c[16:], uint16(payload))
	binary.NativeEndian.PutUint16(c[18:], 0)
	p := c[cnMsgLen:]
	binary.NativeEndian.PutUint32(p[0:], op)
	if mask != 0 {
		binary.NativeEndian.PutUint32(p[4:], uint32(mask))
	}
	return b
}
