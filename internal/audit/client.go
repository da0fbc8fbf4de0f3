package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/nlbatch"
)

// Netlink message types of the audit control protocol.
const (
	typeGet       uint16 = unix.AUDIT_GET
	typeSet       uint16 = unix.AUDIT_SET
	typeAddRule   uint16 = unix.AUDIT_ADD_RULE
	typeDelRule   uint16 = unix.AUDIT_DEL_RULE
	typeListRules uint16 = unix.AUDIT_LIST_RULES
)

const (
	nlHeaderLen = unix.NLMSG_HDRLEN // 16
	// recvBufSize holds the largest record (about 9 KB, MAX_AUDIT_MESSAGE_LENGTH)
	// with room to spare.
	recvBufSize = 64 << 10
	// DefaultTimeout bounds one control request (send, ACK, reply).
	DefaultTimeout = 2 * time.Second
)

// conn is one NETLINK_AUDIT socket. A control socket is non-blocking and
// driven by Go's netpoller, so reads honour deadlines and Close wakes a
// blocked reader; a Source's record socket is outside the poller
// (openReadConn) and sock is set.
type conn struct {
	f      *os.File
	rc     syscall.RawConn
	sock   *nlbatch.Socket
	portid uint32
	// closed is set before the file is closed: a RawConn on a closed file
	// reports poll's "use of closed file", not os.ErrClosed.
	closed atomic.Bool
	// toKernel addresses requests to the kernel (portid 0). Tests use a
	// connected socket pair instead (toKernel false, anySender set).
	toKernel  bool
	anySender bool
}

func openConn() (*conn, error) { return openSocket(false) }

// openReadConn opens the socket a Source reads records from, outside Go's
// poller (see nlbatch.Socket).
func openReadConn() (*conn, error) { return openSocket(true) }

func openSocket(unpolled bool) (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	// Pid 0: the kernel assigns the portid (the tgid for a process's first
	// netlink socket, a random one after that; both work for AUDIT_SET pid).
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, fmt.Errorf("getsockname: not a netlink address")
	}
	var c *conn
	if unpolled {
		sock, err := nlbatch.Open(fd, "netlink-audit")
		if err != nil {
			return nil, err
		}
		c = &conn{f: sock.File, rc: sock.Conn, sock: sock}
	} else if c, err = newConn(fd); err != nil {
		return nil, err
	}
	c.portid, c.toKernel = nl.Pid, true
	return c, nil
}

// newConn wraps a non-blocking socket.
func newConn(fd int) (*conn, error) {
	f := os.NewFile(uintptr(fd), "netlink-audit")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &conn{f: f, rc: rc}, nil
}

func (c *conn) close() error {
	c.closed.Store(true)
	if c.sock != nil {
		c.sock.Stop()
	}
	return c.f.Close()
}

// fail maps any error after close to os.ErrClosed.
func (c *conn) fail(err error) error {
	if c.closed.Load() {
		return os.ErrClosed
	}
	return err
}

// send writes one request to the kernel.
func (c *conn) send(b []byte) error {
	var to unix.Sockaddr
	if c.toKernel {
		// A new address each time: x/sys encodes into the struct, so a
		// shared one would be a data race between senders.
		to = &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	}
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, to)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return c.fail(err)
	}
	return serr
}

// recv reads one datagram. n is the datagram's real length (MSG_TRUNC), so
// n > len(buf) means it was cut. Datagrams not sent by the kernel (portid
// 0) are reported with fromKernel=false.
func (c *conn) recv(buf []byte) (n int, fromKernel bool, err error) {
	var rerr error
	var from unix.Sockaddr
	err = c.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, false, c.fail(err)
	}
	if rerr != nil {
		return 0, false, c.fail(rerr)
	}
	nl, ok := from.(*unix.SockaddrNetlink)
	return n, (ok && nl.Pid == 0) || c.anySender, nil
}

func (c *conn) setsockoptInt(level, opt, v int) error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

func (c *conn) getsockoptInt(level, opt int) (int, error) {
	var v int
	var serr error
	if err := c.rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, serr
}

// encodeRequest frames a request: 16-byte nlmsghdr plus payload, padded to 4.
func encodeRequest(typ, flags uint16, seq uint32, payload []byte) []byte {
	l := nlHeaderLen + len(payload)
	b := make([]byte, (l+3)&^3)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(l))
	le.PutUint16(b[4:], typ)
	le.PutUint16(b[6:], flags)
	le.PutUint32(b[8:], seq)
	// pid 0: the kernel fills in our portid.
	copy(b[nlHeaderLen:], payload)
	return b
}

// Client is a control connection to the kernel's audit subsystem. Each call
// sends one request with NLM_F_REQUEST|NLM_F_ACK, matches replies by
// sequence number, and gives up after the timeout (DefaultTimeout) instead
// of hanging. Records that arrive on the socket meanwhile are skipped: a
// Client is for control, a Source is for reading records. Methods are safe
// for concurrent use; requests are serialised.
type Client struct {
	mu      sync.Mutex
	c       *conn
	seq     uint32
	timeout time.Duration
	buf     []byte
	closed  bool
	// tap, if set, sees every datagram sent (out=true) and received; tests
	// use it to capture real exchanges.
	tap func(out bool, b []byte)
}

// NewClient opens a NETLINK_AUDIT socket. Requests need CAP_AUDIT_CONTROL
// (AUDIT_GET too) in the initial user and pid namespaces.
func NewClient() (*Client, error) {
	c, err := openConn()
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	return &Client{c: c, timeout: DefaultTimeout, buf: make([]byte, recvBufSize)}, nil
}

// SetTimeout changes how long one request may take (d <= 0 restores the
// default).
func (c *Client) SetTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		d = DefaultTimeout
	}
	c.timeout = d
}

// PortID is the socket's netlink port id.
func (c *Client) PortID() uint32 { return c.c.portid }

// Close closes the socket; a request in flight fails. Safe to call twice.
func (c *Client) Close() error {
	// Close the socket before taking the lock so a request blocked in recv
	// returns at once.
	err := c.c.close()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// GetStatus returns the kernel's audit status (AUDIT_GET).
func (c *Client) GetStatus() (Status, error) {
	var st Status
	var got bool
	_, err := c.do("get status", typeGet, nil, func(m Message) (bool, error) {
		if m.Type != typeGet {
			return false, nil
		}
		s, err := ParseStatus(m.Data)
		if err != nil {
			return false, err
		}
		st, got = s, true
		return true, nil
	})
	if err == nil && !got {
		err = fmt.Errorf("audit: get status: no reply")
	}
	return st, err
}

// SetStatus applies the fields of s selected by s.Mask (AUDIT_SET); the
// others are sent but ignored by the kernel. A reset of Lost or
// BacklogWaitTimeActual is acknowledged with the old counter as a positive
// value, which is not an error.
func (c *Client) SetStatus(s Status) error {
	_, err := c.SetStatusValue(s)
	return err
}

// SetStatusValue is SetStatus that also returns the ACK's value: the old
// counter for a Lost or BacklogWaitTimeActual reset, else 0.
func (c *Client) SetStatusValue(s Status) (uint32, error) {
	if s.Mask&StatusFailure != 0 && s.Failure == FailurePanic {
		// A lost record would then panic the machine; refuse outright.
		return 0, fmt.Errorf("audit: set status: refusing failure=%d (panic)", FailurePanic)
	}
	v, err := c.do("set status", typeSet, s.Marshal(), nil)
	return uint32(v), err
}

// ListRules returns every audit rule the kernel holds.
func (c *Client) ListRules() ([]Rule, error) {
	var rules []Rule
	_, err := c.do("list rules", typeListRules, nil, func(m Message) (bool, error) {
		if m.Type != typeListRules {
			return false, nil
		}
		r, err := ParseRule(m.Data)
		if err != nil {
			return false, err
		}
		rules = append(rules, r)
		return false, nil
	})
	return rules, err
}

// AddRule installs r. An identical rule already present gives EEXIST.
func (c *Client) AddRule(r Rule) error {
	b, err := r.Marshal()
	if err != nil {
		return fmt.Errorf("audit: add rule: %w", err)
	}
	_, err = c.do("add rule", typeAddRule, b, nil)
	return err
}

// DeleteRule removes the rule equal to r (including its key); ENOENT if
// there is none.
func (c *Client) DeleteRule(r Rule) error {
	b, err := r.Marshal()
	if err != nil {
		return fmt.Errorf("audit: delete rule: %w", err)
	}
	_, err = c.do("delete rule", typeDelRule, b, nil)
	return err
}

// do runs one request/reply exchange. onReply sees every message carrying
// our sequence number other than the ACK and NLMSG_DONE, and says when the
// reply is complete; requests without onReply complete on the ACK, list
// requests (onReply never done) on NLMSG_DONE. The ACK and the reply may
// come in either order: on current kernels the ACK of AUDIT_GET and
// AUDIT_LIST_RULES comes first, because the reply is sent from a kthread.
func (c *Client) do(op string, typ uint16, payload []byte, onReply func(Message) (bool, error)) (int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("audit: %s: %w", op, os.ErrClosed)
	}
	c.seq++
	if c.seq == 0 { // records carry seq 0; never use it
		c.seq++
	}
	seq := c.seq
	req := encodeRequest(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, payload)
	if c.tap != nil {
		c.tap(true, req)
	}
	if err := c.c.send(req); err != nil {
		return 0, fmt.Errorf("audit: %s: %w", op, err)
	}
	if err := c.c.f.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, fmt.Errorf("audit: %s: %w", op, c.c.fail(err))
	}
	defer c.c.f.SetReadDeadline(time.Time{})
	acked, replied := false, onReply == nil
	var ackVal int32
	for !acked || !replied {
		n, fromKernel, err := c.c.recv(c.buf)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				// Records overran the socket; our reply may still come.
				continue
			}
			return 0, fmt.Errorf("audit: %s: %w", op, err)
		}
		if !fromKernel || n > len(c.buf) {
			continue
		}
		if c.tap != nil {
			c.tap(false, c.buf[:n])
		}
		msgs, _ := ParseDatagram(c.buf[:n])
		for _, m := range msgs {
			if m.Seq != seq {
				continue // a record (seq 0) or a late reply to an earlier request
			}
			switch m.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return 0, fmt.Errorf("audit: %s: short NLMSG_ERROR (%d bytes)", op, len(m.Data))
				}
				code := int32(binary.LittleEndian.Uint32(m.Data))
				if code < 0 {
					return 0, fmt.Errorf("audit: %s: %w", op, syscall.Errno(-code))
				}
				acked, ackVal = true, code
			case unix.NLMSG_DONE:
				replied = true
			default:
				if onReply == nil {
					continue
				}
				done, err := onReply(m)
				if err != nil {
					return 0, fmt.Errorf("audit: %s: %w", op, err)
				}
				if done {
					replied = true
				}
			}
		}
	}
	return ackVal, nil
}
