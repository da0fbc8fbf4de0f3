package wire

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// DefaultMaxConns bounds the connections a server keeps; when it is
// reached the longest-idle connection is closed to make room, so idle or
// stuck clients cannot lock everyone else out.
const DefaultMaxConns = 128

// Server serves a Thrift processor on a unix socket, one goroutine per
// connection (osquery's TThreadedServer).
type Server struct {
	ln       net.Listener
	proc     thrift.TProcessor
	lim      Limits
	timeout  time.Duration
	maxConns int
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[*conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

// ServerOptions configures Listen.
type ServerOptions struct {
	Limits Limits
	// Timeout is how long a client may take to send one message (and to
	// read our reply); idle connections are closed after it. 0 = none.
	Timeout time.Duration
	// MaxConns bounds open connections; 0 means DefaultMaxConns.
	MaxConns int
	Log      *slog.Logger
}

// Listen creates the socket at path with mode 0600, replacing a stale
// socket file. The socket is bound inside a private (0700) directory next
// to path, made 0600, then renamed into place, so no other user can
// connect in between and the process umask, shared by every goroutine, is
// left alone.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, &os.PathError{Op: "listen", Path: path, Err: errors.New("exists and is not a socket")}
		}
		os.Remove(path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".em-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) >= 104 {
		// Too long for sockaddr_un: bind in place and tighten right away.
		tmp = path
	}
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	if tmp != path {
		if err := os.Rename(tmp, path); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return &listener{Listener: ln, path: path}, nil
}

// listener removes its socket file on Close.
type listener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// NewServer serves proc on ln. Call Serve to start accepting.
func NewServer(ln net.Listener, proc thrift.TProcessor, o ServerOptions) *Server {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Limits.MaxString == 0 {
		o.Limits = ServerLimits(0)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ln: ln, proc: proc, lim: o.Limits, timeout: o.Timeout, maxConns: o.MaxConns, log: o.Log,
		ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
}

// Context is cancelled when the server closes; handlers use it.
func (s *Server) Context() context.Context { return s.ctx }

// Serve accepts connections until Close.
func (s *Server) Serve() error {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		c := &conn{Conn: nc}
		// Idle from the start: a connection that never sends is the first
		// to go when the server is full.
		c.idleSince.Store(time.Now().UnixNano())
		c.idle.Store(true)
		if !s.admit(c) {
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// admit registers c, evicting the longest-idle connection when full. With
// every connection busy the newcomer is refused.
func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.maxConns {
		// Connections that never completed a call go first (what a flood of
		// idle connections looks like), then the longest idle.
		var victim *conn
		for o := range s.conns {
			if !o.idle.Load() {
				continue
			}
			if victim == nil || (!o.used.Load() && victim.used.Load()) ||
				(o.used.Load() == victim.used.Load() && o.idleSince.Load() < victim.idleSince.Load()) {
				victim = o
			}
		}
		if victim == nil {
			s.log.Warn("Extension socket: too many busy connections; refusing a client")
			return false
		}
		victim.Conn.Close()
		delete(s.conns, victim)
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) serveConn(c *conn) {
	defer s.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("Extension socket: handler panicked", "panic", p)
		}
		c.Conn.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	trans := thrift.NewTBufferedTransport(c, bufferSize)
	in := newProtocol(trans, s.lim)
	out := thrift.NewTBinaryProtocolConf(trans, s.lim.config())
	for s.ctx.Err() == nil {
		c.begin(s.lim.MaxMessage, s.timeout)
		ok, err := s.proc.Process(s.ctx, in, out)
		c.used.Store(true)
		if err != nil {
			var tae thrift.TApplicationException
			if errors.As(err, &tae) && tae.TypeId() == thrift.UNKNOWN_METHOD {
				continue
			}
			return
		}
		if !ok {
			return
		}
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines. The socket file is removed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Conn.Close()
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Conns reports the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
