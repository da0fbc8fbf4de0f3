package wire

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// errBudget ends a connection whose message outgrew Limits.MaxMessage.
var errBudget = errors.New("message exceeds the size limit")

// conn is a net.Conn as a Thrift transport, with a byte budget per message
// and an idle flag the server uses to pick a connection to evict.
type conn struct {
	net.Conn
	budget    atomic.Int64
	idle      atomic.Bool
	used      atomic.Bool // has completed a call
	idleSince atomic.Int64
}

// begin starts a message: a fresh budget, idle until its first byte, and
// the whole message (and our reply) due within timeout.
func (c *conn) begin(budget int64, timeout time.Duration) {
	c.budget.Store(budget)
	c.idleSince.Store(time.Now().UnixNano())
	c.idle.Store(true)
	if timeout > 0 {
		c.Conn.SetDeadline(time.Now().Add(timeout))
	}
}

func (c *conn) Read(p []byte) (int, error) {
	left := c.budget.Load()
	if left <= 0 {
		return 0, errBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.idle.Store(false)
		c.budget.Add(-int64(n))
	}
	return n, err
}

func (c *conn) IsOpen() bool                             { return true }
func (c *conn) Open() error                              { return nil }
func (c *conn) Flush(context.Context) error              { return nil }
func (c *conn) RemainingBytes() uint64                   { return ^uint64(0) }
func (c *conn) SetTConfiguration(*thrift.TConfiguration) {}

var _ thrift.TTransport = (*conn)(nil)

// bufferSize is the buffered transport's size, osquery's default (512) is
// raised because table rows come back in one response.
const bufferSize = 16 << 10
