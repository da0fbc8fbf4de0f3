package logging

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"
	"time"
)

func TestGlogLines(t *testing.T) {
	var out bytes.Buffer
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	h := NewHandler(&out, level)
	var sunk []Status
	log := slog.New(h)
	log.Info("not shown on stderr")
	log.Warn("Table file was queried without a required column in the WHERE clause")
	log.Error("broken", "table", "x")
	line := regexp.MustCompile(`^W\d{4} \d\d:\d\d:\d\d\.\d{6} \d+ glog_test\.go:\d+\] Table file was queried without a required column in the WHERE clause\nE\d{4} .* glog_test\.go:\d+\] broken table=x\n$`)
	if !line.MatchString(out.String()) {
		t.Fatalf("glog output %q", out.String())
	}
	h.AddSink(func(s Status) { sunk = append(sunk, s) })
	out.Reset()
	log.Info("to sinks only")
	if out.Len() != 0 || len(sunk) != 1 || sunk[0].Severity != Info || sunk[0].Message != "to sinks only" {
		t.Fatalf("sink: %q %+v", out.String(), sunk)
	}
}

func TestFormatGlog(t *testing.T) {
	s := Status{Severity: Error, File: "x.go", Line: 7, Message: "m", Time: time.Date(2026, 1, 6, 3, 4, 5, 123456789, time.UTC)}
	if got := FormatGlog(s, 42); got != "E0106 03:04:05.123456 42 x.go:7] m" {
		t.Fatalf("%q", got)
	}
}
