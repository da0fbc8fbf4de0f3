// Package nlbatch receives queued netlink datagrams in batches with
// recvmmsg(2). The audit and proc connector readers use it to drain a
// burst with one syscall instead of one per datagram: under an exec storm
// that is eight audit records and two connector events per process, and on
// a VM each syscall (and each time the Go runtime hands a processor away
// from a thread in a slow syscall) costs more than parsing the datagram.
// Socket and Pause are the rest of the reading pattern both readers share:
// wait outside Go's poller, drain, hand over, pause.
package nlbatch

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
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
// a reader blocks in WaitReadable and pays nothing.
const CoalesceDelay = 2 * time.Millisecond

// Pause is called by a reader after it handed over got datagrams: it waits
// delay (normally CoalesceDelay) when there were any, or less if wake
// (which may be nil) receives: a consumer that needs everything queued now
// cuts it short.
func Pause(got int, delay time.Duration, wake <-chan struct{}) {
	if got == 0 {
		return
	}
	if wake == nil {
		time.Sleep(delay)
		return
	}
	t := time.NewTimer(delay)
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
	var errno unix.Errno
	cerr := rc.Control(func(fd uintptr) {
		for i := range r.msgs {
			r.msgs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
			r.msgs[i].hdr.Flags = 0
		}
		v, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)), unix.MSG_DONTWAIT, 0, 0)
		n, errno = int(v), e
	})
	if cerr != nil {
		return 0, cerr
	}
	// EINTR: nothing was received; the reader simply reads again.
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK || errno == unix.EINTR {
		return 0, nil
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// Socket is a netlink socket for a reader that drains it in bursts (Recv)
// and pauses between them (Pause). It is kept out of Go's poller on
// purpose: the poller registers a socket for good, and then every datagram
// the kernel queues wakes the poller's thread, even while the reader is
// pausing and nobody waits. Under an exec storm those wake-ups cost the
// processes being watched more than reading the data does. The reader
// waits instead in an epoll instance of its own (WaitReadable), which
// wakes only a reader that is waiting, and an idle reader costs nothing:
// no timeouts, no polling.
type Socket struct {
	File *os.File
	Conn syscall.RawConn

	mu         sync.Mutex
	epfd, evfd int // the reader's epoll instance, and the eventfd Stop writes
	released   bool
}

// Open wraps fd, which Open owns from then on (it closes it on failure).
func Open(fd int, name string) (*Socket, error) {
	fail := func(err error, fds ...int) (*Socket, error) {
		for _, d := range fds {
			unix.Close(d)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Blocking mode keeps os.NewFile from registering it with the poller;
	// every receive passes MSG_DONTWAIT.
	if err := unix.SetNonblock(fd, false); err != nil {
		return fail(err, fd)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail(err, fd)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fail(err, fd, epfd)
	}
	for _, d := range []int{fd, evfd} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, d, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(d)}); err != nil {
			return fail(err, fd, epfd, evfd)
		}
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fail(err, epfd, evfd)
	}
	return &Socket{File: f, Conn: rc, epfd: epfd, evfd: evfd}, nil
}

// WaitReadable blocks until a datagram is queued (true) or Stop has been
// called (false, then and on every later call).
func (s *Socket) WaitReadable() bool {
	s.mu.Lock()
	epfd, released := s.epfd, s.released
	s.mu.Unlock()
	if released {
		return false
	}
	var evs [2]unix.EpollEvent
	for {
		n, err := unix.EpollWait(epfd, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		for i := range n {
			if evs[i].Fd == int32(s.evfd) {
				return false
			}
		}
		if n > 0 {
			return true
		}
	}
}

// Stop makes WaitReadable return false, now and from then on. Call it
// before closing File, whose close waits for calls in progress.
func (s *Socket) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.released {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(s.evfd, one[:])
	}
}

// Release closes the epoll instance and the eventfd; the reader calls it
// when it ends, so that no descriptor is closed under a wait in progress.
func (s *Socket) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.released {
		s.released = true
		unix.Close(s.epfd)
		unix.Close(s.evfd)
	}
}

// Datagram returns datagram i of the last Recv, whether the kernel cut it
// (it did not fit the buffer), and the sender's port id (0: the kernel).
func (r *Reader) Datagram(i int) (data []byte, truncated bool, portID uint32) {
	m := &r.msgs[i]
	return r.bufs[i][:m.len], m.hdr.Flags&unix.MSG_TRUNC != 0, r.addrs[i].Pid
}
