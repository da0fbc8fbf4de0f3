package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
)

// Client talks to an ExtensionManager (the core) or an Extension on a unix
// socket. Calls are serialized; each has its own deadline.
type Client struct {
	mu      sync.Mutex
	c       *conn
	trans   thrift.TTransport
	m       *osquery.ExtensionManagerClient
	timeout time.Duration
	lim     Limits
	broken  bool
}

// ErrSocketMissing is returned by Dial when nothing is at the path.
var ErrSocketMissing = errors.New("extension socket not available")

// Dial connects to the socket at path. timeout bounds the connect and each
// call; 0 means no limit.
func Dial(path string, timeout time.Duration, lim Limits) (*Client, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, &os.PathError{Op: "connect", Path: path, Err: ErrSocketMissing}
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	if lim.MaxString == 0 {
		lim = ClientLimits(0)
	}
	c := &conn{Conn: nc}
	trans := thrift.NewTBufferedTransport(c, bufferSize)
	in := newProtocol(trans, lim)
	out := thrift.NewTBinaryProtocolConf(trans, lim.config())
	return &Client{c: c, trans: trans, timeout: timeout, lim: lim,
		m: osquery.NewExtensionManagerClient(thrift.NewTStandardClient(in, out))}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Conn.Close() }

// Broken reports whether a call failed at the transport level; such a
// client is out of step with its peer and must not be reused.
func (c *Client) Broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// do runs one call with the deadline and ctx's cancellation applied to the
// socket, so a cancelled query does not wait for a slow extension.
func (c *Client) do(ctx context.Context, fn func(ctx context.Context) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return errors.New("connection is broken")
	}
	c.c.begin(c.lim.MaxMessage, c.timeout)
	if dl, ok := ctx.Deadline(); ok {
		if c.timeout <= 0 || time.Until(dl) < c.timeout {
			c.c.Conn.SetDeadline(dl)
		}
	}
	stop := context.AfterFunc(ctx, func() { c.c.Conn.SetDeadline(time.Now()) })
	err := fn(ctx)
	stop()
	if err != nil {
		var te thrift.TTransportException
		var pe thrift.TProtocolException
		if errors.As(err, &te) || errors.As(err, &pe) || errors.Is(err, errBudget) || ctx.Err() != nil {
			c.broken = true
		}
		var ae thrift.TApplicationException
		if errors.As(err, &ae) && ae.TypeId() == thrift.BAD_SEQUENCE_ID {
			c.broken = true
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// Ping calls ping().
func (c *Client) Ping(ctx context.Context) (r *osquery.ExtensionStatus, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.Ping(ctx); return })
	return r, err
}

// Call calls call(registry, item, request).
func (c *Client) Call(ctx context.Context, registry, item string, req map[string]string) (r *osquery.ExtensionResponse, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.Call(ctx, registry, item, req); return })
	return r, err
}

// Shutdown calls shutdown().
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, func(ctx context.Context) error { return c.m.Shutdown(ctx) })
}

// Extensions calls extensions().
func (c *Client) Extensions(ctx context.Context) (r osquery.InternalExtensionList, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.Extensions(ctx); return })
	return r, err
}

// Options calls options().
func (c *Client) Options(ctx context.Context) (r osquery.InternalOptionList, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.Options(ctx); return })
	return r, err
}

// RegisterExtension calls registerExtension(info, registry).
func (c *Client) RegisterExtension(ctx context.Context, info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (r *osquery.ExtensionStatus, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.RegisterExtension(ctx, info, reg); return })
	return r, err
}

// DeregisterExtension calls deregisterExtension(uuid).
func (c *Client) DeregisterExtension(ctx context.Context, uuid int64) (r *osquery.ExtensionStatus, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) {
		r, e = c.m.DeregisterExtension(ctx, osquery.ExtensionRouteUUID(uuid))
		return
	})
	return r, err
}

// Query calls query(sql).
func (c *Client) Query(ctx context.Context, sql string) (r *osquery.ExtensionResponse, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.Query(ctx, sql); return })
	return r, err
}

// GetQueryColumns calls getQueryColumns(sql).
func (c *Client) GetQueryColumns(ctx context.Context, sql string) (r *osquery.ExtensionResponse, err error) {
	err = c.do(ctx, func(ctx context.Context) (e error) { r, e = c.m.GetQueryColumns(ctx, sql); return })
	return r, err
}

// Pool keeps idle clients to one socket for reuse.
type Pool struct {
	path    string
	timeout time.Duration
	lim     Limits
	mu      sync.Mutex
	idle    []*Client
	closed  bool
	// connected is set once a dial succeeded: before that a missing
	// socket may be an extension between registering and listening,
	// which a pool made by NewExtensionPool waits for.
	connected bool
	grace     time.Duration
}

// maxIdle bounds the clients a pool keeps.
const maxIdle = 4

// NewPool returns a pool of clients to path.
func NewPool(path string, timeout time.Duration, lim Limits) *Pool {
	return &Pool{path: path, timeout: timeout, lim: lim}
}

// NewExtensionPool is NewPool for an extension that has just registered:
// until its first connection succeeds, a missing socket is waited for
// (registrationGrace), since the extension listens only after the
// registration reply.
func NewExtensionPool(path string, timeout time.Duration, lim Limits) *Pool {
	p := NewPool(path, timeout, lim)
	p.grace = registrationGrace
	return p
}

// Path is the socket the pool connects to.
func (p *Pool) Path() string { return p.path }

// Do runs fn with a client, dialing one if none is idle, and keeps the
// client for reuse unless its connection broke. A kept connection the peer
// has since closed (its idle timeout, a restart) fails at the transport
// level before the peer read anything, so that call is tried once more on
// a fresh connection.
func (p *Pool) Do(fn func(c *Client) error) error {
	p.mu.Lock()
	var c *Client
	if n := len(p.idle); n > 0 {
		c, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if c != nil {
		err := fn(c)
		if !c.Broken() || !isClosedByPeer(err) {
			p.put(c)
			return err
		}
		c.Close()
	}
	c, err := p.dial()
	if err != nil {
		return err
	}
	err = fn(c)
	p.put(c)
	return err
}

// registrationGrace is how long an extension's pool that never connected
// waits for its socket: an extension registers first (the reply names its
// socket) and listens right after, so a call in between finds no socket.
const registrationGrace = time.Second

func (p *Pool) dial() (*Client, error) {
	deadline := time.Now().Add(p.grace)
	for {
		c, err := Dial(p.path, p.timeout, p.lim)
		if err == nil {
			p.mu.Lock()
			p.connected = true
			p.mu.Unlock()
			return c, nil
		}
		p.mu.Lock()
		fresh := !p.connected
		p.mu.Unlock()
		if !fresh || time.Now().After(deadline) || !(errors.Is(err, ErrSocketMissing) || errors.Is(err, syscall.ECONNREFUSED)) {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *Pool) put(c *Client) {
	p.mu.Lock()
	if !c.Broken() && !p.closed && len(p.idle) < maxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// isClosedByPeer reports an error from a connection the peer had closed.
func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// Close closes the idle clients; clients in use close when returned.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
