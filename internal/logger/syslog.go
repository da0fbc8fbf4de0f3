package logger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
)

// Syslog facilities and severities (<syslog.h>), as numbers: the facility
// is shifted left by three in a PRI, the severity is the low three bits.
const (
	// DefaultSyslogFacility is --logger_syslog_facility's default,
	// LOG_LOCAL3 >> 3.
	DefaultSyslogFacility = 19
	// DefaultSyslogSocket is glibc's _PATH_LOG.
	DefaultSyslogSocket = "/dev/log"
	// DefaultSyslogWriteTimeout bounds one send. glibc's syslog(3) blocks
	// for as long as the daemon's queue is full (ten datagrams by
	// default, net.unix.max_dgram_qlen); a stuck syslog daemon must not
	// stall the scheduler.
	DefaultSyslogWriteTimeout = time.Second

	sevCrit    = 2
	sevErr     = 3
	sevWarning = 4
	sevNotice  = 5
	sevInfo    = 6
)

// SyslogOptions are the syslog plugin's settings beyond Config. Start
// from DefaultSyslogOptions or SyslogOptionsFromFlags: facility 0 is a
// real facility (kern), so the zero value is not the default.
type SyslogOptions struct {
	// Facility is --logger_syslog_facility, 0 to 23; outside that range
	// osquery uses 19 (local3), and so does NewSyslog.
	Facility int
	// PrependCEE is --logger_syslog_prepend_cee: result lines are sent as
	// "@cee:" followed by the JSON, for rsyslog's mmjsonparse.
	PrependCEE bool
	// Socket is the syslog daemon's socket. Default /dev/log.
	Socket string
	// WriteTimeout bounds each send (and reconnect). Default 1 s.
	WriteTimeout time.Duration
}

// DefaultSyslogOptions returns osquery's defaults: local3, no cee prefix,
// /dev/log.
func DefaultSyslogOptions() SyslogOptions {
	return SyslogOptions{Facility: DefaultSyslogFacility, Socket: DefaultSyslogSocket, WriteTimeout: DefaultSyslogWriteTimeout}
}

// SyslogOptionsFromFlags reads --logger_syslog_facility and
// --logger_syslog_prepend_cee.
func SyslogOptionsFromFlags(fs *flags.Set) SyslogOptions {
	o := DefaultSyslogOptions()
	o.Facility = int(fs.Int("logger_syslog_facility"))
	o.PrependCEE = fs.Bool("logger_syslog_prepend_cee")
	return o
}

// SyslogFactory returns a Factory building the syslog plugin with opts,
// for a caller that holds the flags to register in place of the default
// one: logger.Register("syslog", logger.SyslogFactory(logger.SyslogOptionsFromFlags(fl))).
func SyslogFactory(opts SyslogOptions) Factory {
	return func(c Config) (Plugin, error) { return NewSyslog(c, opts) }
}

// The registered factory reads --logger_syslog_facility and
// --logger_syslog_prepend_cee from the flags the Config came from, or
// takes osquery's defaults for a Config built without them.
func init() {
	Register("syslog", func(c Config) (Plugin, error) {
		opts := DefaultSyslogOptions()
		if c.Flags != nil {
			opts = SyslogOptionsFromFlags(c.Flags)
		}
		return NewSyslog(c, opts)
	})
}

// Syslog is osquery's syslog logger plugin (plugins/logger/syslog_logger.cpp)
// speaking the local syslog protocol itself, byte for byte what glibc's
// openlog(ident, LOG_PID|LOG_CONS, facility<<3) and syslog(3) send:
// one datagram `<PRI>Mmm dd hh:mm:ss ident[pid]: msg` per message (day
// space-padded, local time, no trailing newline), on a unix datagram
// socket, or NUL-terminated on a stream socket when the daemon listens on
// one. Results and snapshots go at LOG_INFO; statuses as
// `severity=<n> location=<file>:<line> message=<msg>` at the severity
// osquery maps them to (INFO notice, WARNING warning, ERROR err, FATAL
// crit).
//
// Differences from glibc, all on failure paths: sends have a deadline
// instead of blocking while the daemon is stuck; a message that cannot
// be delivered is an error to the caller instead of a line on
// /dev/console (LOG_CONS), which a daemon must never write; and a line
// longer than the kernel's datagram limit (SO_SNDBUF - 32 bytes, about
// 208 KiB by default) is cut to fit instead of being dropped whole, since
// syslog daemons keep only a message's head anyway (rsyslog 8 KiB,
// $MaxMessageSize). Like glibc, a message stops at its first NUL byte
// (osquery passes it through "%s").
type Syslog struct {
	ident    string
	pid      int
	now      func() time.Time
	facility int
	cee      bool
	path     string
	timeout  time.Duration

	mu     sync.Mutex
	conn   *net.UnixConn
	stream bool
	buf    []byte
	closed bool
	// sends counts send attempts, for tests.
	sends int
}

// NewSyslog returns the syslog plugin. The ident is cfg.ProgramName
// (osqueryd), the pid cfg.Pid, the clock cfg.Now. It does not need the
// socket to exist yet: like glibc it connects on the first message, and
// each message that finds no daemon fails with an error naming the socket.
func NewSyslog(cfg Config, opts SyslogOptions) (*Syslog, error) {
	cfg = cfg.withDefaults()
	if opts.Facility < 0 || opts.Facility > 23 {
		opts.Facility = DefaultSyslogFacility
	}
	if opts.Socket == "" {
		opts.Socket = DefaultSyslogSocket
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultSyslogWriteTimeout
	}
	return &Syslog{
		ident:    cfg.ProgramName,
		pid:      cfg.Pid,
		now:      cfg.Now,
		facility: opts.Facility,
		cee:      opts.PrependCEE,
		path:     opts.Socket,
		timeout:  opts.WriteTimeout,
	}, nil
}

// Name implements Plugin.
func (s *Syslog) Name() string { return "syslog" }

// LogResult implements Plugin.
func (s *Syslog) LogResult(ctx context.Context, line []byte) error {
	prefix := ""
	if s.cee {
		prefix = "@cee:"
	}
	return s.send(ctx, sevInfo, prefix, line)
}

// LogSnapshot implements Plugin; syslog has no snapshot channel.
func (s *Syslog) LogSnapshot(ctx context.Context, line []byte) error {
	return s.LogResult(ctx, line)
}

// LogStatus implements Plugin: one message per status, as osquery calls
// syslog(3) once per line. All are attempted; the first failure is
// returned with the count of lost ones.
func (s *Syslog) LogStatus(ctx context.Context, statuses []logging.Status) error {
	var first error
	failed := 0
	var msg []byte
	for i, st := range statuses {
		msg = AppendStdoutStatus(msg[:0], st)
		if err := s.send(ctx, SyslogSeverity(st.Severity), "", msg); err != nil {
			if first == nil {
				first = err
			}
			failed++
			// A stuck daemon would cost the timeout per line.
			if errors.Is(err, errClosed) || ctx.Err() != nil || isTimeout(err) {
				failed += len(statuses) - i - 1
				break
			}
		}
	}
	if failed > 1 {
		return fmt.Errorf("%d of %d status lines not logged: %w", failed, len(statuses), first)
	}
	return first
}

// SyslogSeverity maps a glog severity to the syslog severity osquery's
// plugin uses: INFO notice (5), WARNING warning (4), ERROR err (3), FATAL
// crit (2); anything else notice.
func SyslogSeverity(sev logging.Severity) int {
	switch sev {
	case logging.Warning:
		return sevWarning
	case logging.Error:
		return sevErr
	case logging.Fatal:
		return sevCrit
	}
	return sevNotice
}

// Close implements Plugin.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.disconnect()
	return nil
}

// AppendSyslogMessage appends what glibc's syslog(3) sends for one
// message, without the NUL a stream socket adds:
// `<PRI>Mmm dd hh:mm:ss ident[pid]: ` then prefix and msg up to msg's
// first NUL byte. t is formatted in its own location (glibc uses local
// time; time.Now gives local time).
func AppendSyslogMessage(dst []byte, facility, severity int, t time.Time, ident string, pid int, prefix string, msg []byte) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility<<3|severity&7), 10)
	dst = append(dst, '>')
	// strftime's "%h %e %T " in the C locale.
	dst = t.AppendFormat(dst, "Jan _2 15:04:05 ")
	dst = append(dst, ident...)
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(pid), 10)
	dst = append(dst, "]: "...)
	dst = append(dst, prefix...)
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	return append(dst, msg...)
}

func (s *Syslog) send(ctx context.Context, severity int, prefix string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.buf = AppendSyslogMessage(s.buf[:0], s.facility, severity, s.now(), s.ident, s.pid, prefix, msg)
	defer func() {
		if cap(s.buf) > 1<<20 {
			s.buf = nil // do not pin a huge line's buffer
		}
	}()
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}

	// glibc's recovery: on a failed send, reopen the connection (the
	// daemon may have restarted and bound a new socket) and try once more.
	reconnected := false
	if s.conn == nil {
		if err := s.connect(deadline); err != nil {
			return err
		}
		reconnected = true
	}
	err := s.write(deadline)
	if err != nil && !reconnected && !isTimeout(err) {
		s.disconnect()
		if cerr := s.connect(deadline); cerr != nil {
			return fmt.Errorf("%w (after %v)", cerr, err)
		}
		err = s.write(deadline)
	}
	if err != nil {
		// The next message reconnects; a stream that took part of a
		// message is out of step with the daemon anyway.
		s.disconnect()
		return fmt.Errorf("syslog: send to %s: %w", s.path, err)
	}
	return nil
}

// write sends s.buf as one message on the connected socket.
func (s *Syslog) write(deadline time.Time) error {
	s.sends++
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if s.stream {
		_, err := s.conn.Write(append(s.buf, 0))
		return err
	}
	_, err := s.conn.Write(s.buf)
	if !errors.Is(err, syscall.EMSGSIZE) {
		return err
	}
	// Longer than the socket can carry in one datagram: keep the head.
	limit := s.datagramLimit()
	for err != nil && errors.Is(err, syscall.EMSGSIZE) && limit >= 512 {
		_, err = s.conn.Write(cutUTF8(s.buf, limit))
		limit /= 2
	}
	return err
}

// datagramLimit is the largest datagram the kernel accepts on the socket:
// unix_dgram_sendmsg refuses more than sk_sndbuf - 32 bytes, and
// SO_SNDBUF reads back sk_sndbuf.
func (s *Syslog) datagramLimit() int {
	limit := 0
	if rc, err := s.conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF); err == nil {
				limit = v - 32
			}
		})
	}
	if limit <= 0 || limit >= len(s.buf) {
		limit = len(s.buf) / 2
	}
	return limit
}

// cutUTF8 shortens b to at most n bytes without splitting a UTF-8
// sequence, so the daemon sees valid text up to the cut.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	cut := n
	for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(b[cut]); i++ {
		cut--
	}
	if !utf8.RuneStart(b[cut]) {
		cut = n // not UTF-8 there; cut where asked
	}
	return b[:cut]
}

// connect opens the daemon's socket as glibc does: datagram first, stream
// if the socket is a stream one (EPROTOTYPE).
func (s *Syslog) connect(deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("unixgram", s.path)
	stream := false
	if errors.Is(err, syscall.EPROTOTYPE) {
		c, err = d.Dial("unix", s.path)
		stream = true
	}
	if err != nil {
		var hint string
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			hint = " (is a syslog daemon running?)"
		}
		return fmt.Errorf("syslog: connect to %s: %w%s", s.path, err, hint)
	}
	s.conn, s.stream = c.(*net.UnixConn), stream
	return nil
}

func (s *Syslog) disconnect() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
