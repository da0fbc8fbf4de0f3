// Package logging renders gosquery's status messages the way osquery's
// glog does, so that existing log scrapers keep working: a slog.Handler that
// writes `W1127 00:16:16.123456 4242 file.go:12] message` lines.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Severity is glog's level numbering, which osquery's status logs and the
// logger_min_status flag use.
type Severity int

// glog severities.
const (
	Info Severity = iota
	Warning
	Error
	Fatal
)

// SeverityOf maps a slog level to glog's.
func SeverityOf(l slog.Level) Severity {
	switch {
	case l >= slog.LevelError+4:
		return Fatal
	case l >= slog.LevelError:
		return Error
	case l >= slog.LevelWarn:
		return Warning
	}
	return Info
}

// Letter is the line prefix of a severity.
func (s Severity) Letter() byte { return "IWEF"[min(max(int(s), 0), 3)] }

// Status is one status message with its origin, as logger plugins receive
// it.
type Status struct {
	Severity Severity
	File     string
	Line     int
	Message  string
	Time     time.Time
}

// FormatGlog renders a status as a glog line (without the newline).
func FormatGlog(s Status, pid int) string {
	t := s.Time.UTC()
	return fmt.Sprintf("%c%02d%02d %02d:%02d:%02d.%06d %d %s:%d] %s",
		s.Severity.Letter(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(),
		t.Nanosecond()/1000, pid, s.File, s.Line, s.Message)
}

// Handler writes glog lines to an io.Writer at or above a minimum level and
// optionally hands every status to sinks (status log plugins).
type Handler struct {
	mu    *sync.Mutex
	out   io.Writer
	level *slog.LevelVar
	sinks *[]func(Status)
	attrs string
}

// NewHandler returns a handler writing to out at or above level.
func NewHandler(out io.Writer, level *slog.LevelVar) *Handler {
	return &Handler{mu: &sync.Mutex{}, out: out, level: level, sinks: &[]func(Status){}}
}

// AddSink registers fn to receive every status at or above Info, whatever
// the stderr level (status logs have their own threshold).
func (h *Handler) AddSink(fn func(Status)) {
	h.mu.Lock()
	*h.sinks = append(*h.sinks, fn)
	h.mu.Unlock()
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	h.mu.Lock()
	n := len(*h.sinks)
	h.mu.Unlock()
	return l >= h.level.Level() || (n > 0 && l >= slog.LevelInfo)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	st := Status{Severity: SeverityOf(r.Level), Message: r.Message, Time: r.Time, File: "gosquery", Line: 0}
	if r.PC != 0 {
		fr, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		st.File, st.Line = filepath.Base(fr.File), fr.Line
	}
	var extra strings.Builder
	extra.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&extra, " %s=%v", a.Key, a.Value)
		return true
	})
	st.Message += extra.String()
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range *h.sinks {
		s(st)
	}
	if r.Level >= h.level.Level() {
		_, err := io.WriteString(h.out, FormatGlog(st, os.Getpid())+"\n")
		return err
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	c.attrs = b.String()
	return &c
}

// WithGroup implements slog.Handler; groups are flattened.
func (h *Handler) WithGroup(string) slog.Handler { return h }
