package logger

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/gosquery/gosquery/internal/logging"
)

// Stdout is osquery's stdout plugin: result and snapshot lines as JSON
// lines, statuses as `severity=<n> location=<file>:<line> message=<msg>`.
type Stdout struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	closed bool
}

// NewStdout returns a stdout plugin writing to cfg.Out (os.Stdout by
// default).
func NewStdout(cfg Config) *Stdout {
	cfg = cfg.withDefaults()
	return &Stdout{out: cfg.Out}
}

// Name implements Plugin.
func (s *Stdout) Name() string { return "stdout" }

var errClosed = errors.New("logger plugin is closed")

// write sends everything in one Write call so lines never interleave.
func (s *Stdout) write(fill func([]byte) []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.buf = fill(s.buf[:0])
	_, err := s.out.Write(s.buf)
	if cap(s.buf) > 1<<20 {
		s.buf = nil // do not pin a huge line's buffer
	}
	return err
}

// LogResult implements Plugin.
func (s *Stdout) LogResult(_ context.Context, line []byte) error {
	return s.write(func(b []byte) []byte { return append(append(b, line...), '\n') })
}

// LogSnapshot implements Plugin; stdout has no snapshot channel.
func (s *Stdout) LogSnapshot(ctx context.Context, line []byte) error {
	return s.LogResult(ctx, line)
}

// LogStatus implements Plugin.
func (s *Stdout) LogStatus(_ context.Context, statuses []logging.Status) error {
	if len(statuses) == 0 {
		return nil
	}
	return s.write(func(b []byte) []byte {
		for _, st := range statuses {
			b = append(AppendStdoutStatus(b, st), '\n')
		}
		return b
	})
}

// Close implements Plugin; the writer is not closed (it is usually
// os.Stdout).
func (s *Stdout) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
