// Package shell is osqueryi: statement input (one-shot, piped or
// interactive with line editing, history and completion), meta commands and
// osquery's output formats. It runs SQL through an Executor: the local
// engine, or a daemon's extension socket after --connect.
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
)

// Executor runs SQL and hands back each statement's result.
type Executor interface {
	Run(ctx context.Context, sql string, fn func(*sqlengine.Result) error) error
	// Columns reports a statement's result columns and declared types.
	Columns(ctx context.Context, sql string) ([]sqlengine.ColumnInfo, error)
}

// Shell holds the state of one osqueryi session.
type Shell struct {
	// Exec runs statements: the local engine, or a remote daemon.
	Exec Executor
	// Local is the in-process engine, used again after .disconnect.
	Local Executor
	// Tables lists the local tables for .tables, .schema and completion.
	Tables *table.Registry
	Flags  *flags.Set
	// Version is printed by .version and .show.
	Version string
	// Connect opens an executor on an extension socket (.connect).
	Connect func(path string) (Executor, error)

	Out, Err io.Writer
	Printer  Printer
	Echo     bool
	Bail     bool
	Timer    bool

	connected string
}

// exitRequest is returned by a meta command that ends the session.
type exitRequest struct{ code int }

func (e exitRequest) Error() string { return fmt.Sprintf("exit %d", e.code) }

// runStatements executes sql and prints each result. It returns the
// SQLite result code of a failure (0 on success) and the error.
func (s *Shell) runStatements(ctx context.Context, sql string) (int, error) {
	start := time.Now()
	var ru0 syscall.Rusage
	if s.Timer {
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	}
	if s.Echo {
		fmt.Fprintln(s.Out, strings.TrimSpace(sql))
	}
	err := s.Exec.Run(ctx, sql, func(res *sqlengine.Result) error {
		s.Printer.Print(s.Out, res)
		return nil
	})
	if s.Timer {
		var ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		fmt.Fprintf(s.Out, "Run Time: real %.3f user %f sys %f\n", time.Since(start).Seconds(),
			tvDiff(ru0.Utime, ru1.Utime), tvDiff(ru0.Stime, ru1.Stime))
	}
	if err == nil {
		return 0, nil
	}
	var se *sqlengine.Error
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code, err
	}
	return 1, err
}

func tvDiff(a, b syscall.Timeval) float64 {
	return float64(b.Sec-a.Sec) + float64(b.Usec-a.Usec)*1e-6
}

// RunQuery runs a one-shot statement (the positional argument or --query):
// the exit code is the SQLite result code of a failure, as osquery's.
func (s *Shell) RunQuery(ctx context.Context, sql string) int {
	if strings.HasPrefix(strings.TrimSpace(sql), ".") {
		rc, err := s.Meta(ctx, strings.TrimSpace(sql))
		var exit exitRequest
		if errors.As(err, &exit) {
			return exit.code
		}
		return rc
	}
	rc, err := s.runStatements(ctx, sql)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n", err)
	}
	return rc
}

// ProcessInput reads statements and meta commands from r, as osqueryi does
// with a pipe or file on stdin: lines accumulate until they form a complete
// statement; a line starting with '.' outside a statement is a meta
// command. It returns 1 if any statement failed, else 0 (or .exit's code).
func (s *Shell) ProcessInput(ctx context.Context, r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var sqlBuf strings.Builder
	errors_, lineno, startLine := 0, 0, 0
	for sc.Scan() {
		if errors_ > 0 && s.Bail {
			break
		}
		line := strings.TrimRight(sc.Text(), "\r")
		lineno++
		code, done := s.feedLine(ctx, &sqlBuf, line, lineno, &startLine, func(msg string) {
			fmt.Fprintf(s.Err, "Error: near line %d: %s\n", startLine, msg)
		}, &errors_)
		if done {
			return code
		}
	}
	if rest := strings.TrimSpace(sqlBuf.String()); rest != "" && !allWhitespace(rest) {
		// osquery runs a final statement that lacks its semicolon.
		if _, err := s.runStatements(ctx, rest); err != nil {
			fmt.Fprintf(s.Err, "Error: near line %d: %v\n", startLine, err)
			errors_++
		}
	}
	if errors_ > 0 {
		return 1
	}
	return 0
}

// feedLine adds one input line. It reports (exit code, true) when the
// session must end.
func (s *Shell) feedLine(ctx context.Context, buf *strings.Builder, line string, lineno int, startLine *int, report func(string), errCount *int) (int, bool) {
	if buf.Len() == 0 && allWhitespace(line) {
		if s.Echo {
			fmt.Fprintln(s.Out, line)
		}
		return 0, false
	}
	if buf.Len() == 0 && strings.HasPrefix(line, ".") {
		if s.Echo {
			fmt.Fprintln(s.Out, line)
		}
		rc, err := s.Meta(ctx, line)
		var exit exitRequest
		if errors.As(err, &exit) {
			return exit.code, true
		}
		if rc != 0 {
			*errCount++
		}
		return 0, false
	}
	if buf.Len() == 0 {
		*startLine = lineno
		buf.WriteString(strings.TrimLeft(line, " \t"))
	} else {
		buf.WriteByte('\n')
		buf.WriteString(line)
	}
	if strings.Contains(line, ";") && sqlengine.Complete(buf.String()) {
		sql := buf.String()
		buf.Reset()
		if _, err := s.runStatements(ctx, sql); err != nil {
			report(err.Error())
			*errCount++
		}
	}
	return 0, false
}

// allWhitespace reports whether z holds only spaces and comments.
func allWhitespace(z string) bool {
	for i := 0; i < len(z); i++ {
		c := z[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c == '/' && i+1 < len(z) && z[i+1] == '*':
			end := strings.Index(z[i+2:], "*/")
			if end < 0 {
				return false
			}
			i += end + 3
		case c == '-' && i+1 < len(z) && z[i+1] == '-':
			nl := strings.IndexByte(z[i:], '\n')
			if nl < 0 {
				return true
			}
			i += nl
		default:
			return false
		}
	}
	return true
}

// interruptContext returns a context cancelled by Ctrl-C while a statement
// runs, so a long query stops without killing the shell.
func interruptContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}
