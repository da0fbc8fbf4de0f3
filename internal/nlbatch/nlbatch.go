// Package nlbatch receives queued netlink datagrams in batches with
// recvmmsg(2). The audit and proc connector readers use it to drain a
// burst with one syscall instead of one per datagram: under an exec storm
// that is eight audit records and two connector events per process, and on
// a VM each syscall (and each time the Go runtime hands a processor away
// from a thread in a slow syscall) costs more than parsing the datagram.
package nlbatch

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
		return 0, nil
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// Datagram returns datagram i of the last Recv, whether the kernel cut it
// (it did not fit the buffer), and the sender's port id (0: the kernel).
func (r *Reader) Datagram(i int) (data []byte, truncated bool, portID uint32) {
	m := &r.msgs[i]
	return r.bufs[i][:m.len], m.hdr.Flags&unix.MSG_TRUNC != 0, r.addrs[i].Pid
}
