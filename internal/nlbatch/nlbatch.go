// Package nlbatch receives queued netlink datagrams in batches with
// recvmmsg(2). The audit and proc connector readers use it to drain a
// burst with one syscall instead of one per datagram: under an exec storm
// that is eight audit records and two connector events per process, and on
// a VM each syscall (and each time the Go runtime hands a processor away
// from a thread in a slow syscall) costs more than parsing the datagram.
package nlbatch

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CoalesceDelay is how long a reader pauses after handing over a burst,
// before it reads again. Under load the next burst is then taken whole
// instead of waking for every datagram: the socket buffers hold far more
// than a millisecond of messages, and each wake-up (poller, scheduler,
// the consumer goroutine) costs more than the messages it brings. Idle,
// a reader blocks in the poller and pays nothing.
const CoalesceDelay = 2 * time.Millisecond

// Pause is called by a reader after it handed over got datagrams: it waits
// CoalesceDelay when there were any, or less if wake (which may be nil)
// receives: a consumer that needs everything queued now cuts it short.
func Pause(got int, wake <-chan struct{}) {
	if got == 0 {
		return
	}
	if wake == nil {
		time.Sleep(CoalesceDelay)
		return
	}
	t := time.NewTimer(CoalesceDelay)
	select {
	case <-t.C:
	case <-wake:
		t.Stop()
	}
}

// Readable reports whether a datagram is queued on the socket, without
// receiving it.
func Readable(rc Conn) bool {
	var n int
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ = unix.Poll(fds, 0)
	})
	return n > 0
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// Reader holds the buffers for one batch.
type Reader struct {
	bufs  [][]byte
	iovs  []unix.Iovec
	addrs []unix.RawSockaddrNetlink
	msgs  []mmsghdr
}

// New returns a reader of up to n datagrams of up to size bytes each.
func New(n, size int) *Reader {
	r := &Reader{
		bufs:  make([][]byte, n),
		iovs:  make([]unix.Iovec, n),
		addrs: make([]unix.RawSockaddrNetlink, n),
		msgs:  make([]mmsghdr, n),
	}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.addrs[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
	}
	return r
}

// Cap is the most datagrams one Recv returns.
func (r *Reader) Cap() int { return len(r.msgs) }

// Conn is the part of syscall.RawConn Recv needs.
type Conn interface {
	Control(func(fd uintptr)) error
}

var _ Conn = syscall.RawConn(nil)

// Recv reads the datagrams already queued on the socket, without waiting
// (it goes around the Go poller): n is 0 when the socket is empty. Errors
// are the socket's (ENOBUFS on overrun).
func (r *Reader) Recv(rc Conn) (n int, err error) {
	return r.recv(rc, unix.MSG_DONTWAIT)
}

// Wait blocks until at least one datagram is queued and returns it with
// the others already queued (up to Cap), in one syscall. The socket must be
// a blocking one from OpenBlocking: its receive timeout bounds the wait,
// after which n is 0, so the reader notices Close in time.
func (r *Reader) Wait(rc Conn) (n int, err error) {
	return r.recv(rc, unix.MSG_WAITFORONE)
}

func (r *Reader) recv(rc Conn, flags int) (n int, err error) {
	var errno unix.Errno
	cerr := rc.Control(func(fd uintptr) {
		for i := range r.msgs {
			r.msgs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
			r.msgs[i].hdr.Flags = 0
		}
		v, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)), uintptr(flags), 0, 0)
		n, errno = int(v), e
	})
	if cerr != nil {
		return 0, cerr
	}
	// EINTR: a receive with a timeout is not restarted after a signal,
	// and the Go runtime signals its threads (preemption).
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK || errno == unix.EINTR {
		return 0, nil
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// WaitTimeout is the receive timeout OpenBlocking sets: how long Close may
// wait for a reader blocked in Wait, and how often an idle reader wakes.
const WaitTimeout = 100 * time.Millisecond

// OpenBlocking wraps a blocking socket for a reader that uses Wait. It is
// kept out of Go's poller on purpose: the poller registers a socket for
// good, and then every datagram the kernel queues wakes the poller's
// thread, even while the reader is pausing (CoalesceDelay) and nobody
// waits. Under an exec storm those wake-ups cost the processes being
// watched more than reading the data does. A blocked Wait wakes only the
// reader, and only when it is waiting.
//
// Close of the returned file takes effect when a Wait in progress returns,
// at most WaitTimeout later; later calls on the RawConn fail.
func OpenBlocking(fd int, name string) (*os.File, syscall.RawConn, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	tv := unix.NsecToTimeval(WaitTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), name) // blocking: not registered with the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, rc, nil
}

// Datagram returns datagram i of the last Recv, whether the kernel cut it
// (it did not fit the buffer), and the sender's port id (0: the kernel).
func (r *Reader) Datagram(i int) (data []byte, truncated bool, portID uint32) {
	m := &r.msgs[i]
	return r.bufs[i][:m.len], m.hdr.Flags&unix.MSG_TRUNC != 0, r.addrs[i].Pid
}
