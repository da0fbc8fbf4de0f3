package logger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
)

// syncBuffer is a bytes.Buffer that records each Write call separately.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestStdout(t *testing.T) {
	ctx := context.Background()
	var out syncBuffer
	p, err := New("stdout", Config{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	p.LogResult(ctx, []byte(`{"a":1}`))
	p.LogSnapshot(ctx, []byte(`{"snapshot":[]}`))
	p.LogStatus(ctx, []logging.Status{
		{Severity: logging.Warning, File: "scheduler.cpp", Line: 84, Message: "m1", Time: time.Now()},
		{Severity: logging.Info, File: "x.go", Line: 1, Message: "two\nlines"},
	})
	want := "{\"a\":1}\n{\"snapshot\":[]}\nseverity=1 location=scheduler.cpp:84 message=m1\nseverity=0 location=x.go:1 message=two\nlines\n"
	if out.String() != want {
		t.Fatalf("got %q want %q", out.String(), want)
	}
	if out.writes != 3 {
		t.Fatalf("%d writes, want one per call", out.writes)
	}
	p.Close()
	if err := p.LogResult(ctx, []byte("x")); err == nil {
		t.Fatal("write after Close")
	}
}

func TestStdoutConcurrent(t *testing.T) {
	var out syncBuffer
	p := NewStdout(Config{Out: &out})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := bytes.Repeat([]byte{byte('a' + w)}, 1000+w)
			for i := 0; i < 100; i++ {
				p.LogResult(context.Background(), line)
			}
		}()
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if len(l) < 1000 || strings.Count(l, l[:1]) != len(l) {
			t.Fatalf("torn line of %d bytes", len(l))
		}
	}
}

type failing struct {
	name  string
	err   error
	lines [][]byte
}

func (f *failing) Name() string { return f.name }
func (f *failing) LogResult(_ context.Context, l []byte) error {
	f.lines = append(f.lines, append([]byte(nil), l...))
	return f.err
}
func (f *failing) LogSnapshot(ctx context.Context, l []byte) error { return f.LogResult(ctx, l) }
func (f *failing) LogStatus(context.Context, []logging.Status) error {
	return f.err
}
func (f *failing) Close() error { return f.err }

func TestMulti(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	a, b, c := &failing{name: "a"}, &failing{name: "b", err: boom}, &failing{name: "c"}
	m := NewMulti(a, b, c)
	if m.Name() != "a,b,c" {
		t.Fatal(m.Name())
	}
	err := m.LogResult(ctx, []byte("line"))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "b: boom") {
		t.Fatalf("error %v", err)
	}
	if len(a.lines) != 1 || len(c.lines) != 1 {
		t.Fatal("a failing plugin stopped the others")
	}
	if err := m.LogSnapshot(ctx, []byte("s")); !errors.Is(err, boom) || len(c.lines) != 2 {
		t.Fatalf("snapshot %v", err)
	}
	if err := m.LogStatus(ctx, nil); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := m.Close(); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := NewMulti(a, c).LogResult(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
}

func TestFromFlags(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "logs")
	fs := flags.Standard()
	for k, v := range map[string]string{
		"logger_plugin": " filesystem, stdout,,filesystem ",
		"logger_path":   dir,
		"logger_mode":   "0600",
	} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var out syncBuffer
	p, err := FromFlags(fs, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Name() != "filesystem,stdout" {
		t.Fatalf("name %q", p.Name())
	}
	if err := p.LogResult(ctx, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\"x\":1}\n" {
		t.Fatalf("stdout %q", out.String())
	}
	results := filepath.Join(dir, ResultsFile)
	if got := readLines(t, results); len(got) != 1 || got[0] != `{"x":1}` {
		t.Fatalf("file %q", got)
	}
	if st, _ := os.Stat(results); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}

	// One plugin is returned as itself.
	fs.Set("logger_plugin", "stdout")
	if p, err := FromFlags(fs, &out); err != nil || p.Name() != "stdout" {
		t.Fatalf("%v %v", p, err)
	}

	fs.Set("logger_plugin", "filesystem,kafka_producer")
	_, err = FromFlags(fs, &out)
	if err == nil || err.Error() != "Cannot activate kafka_producer logger plugin: Unknown registry plugin" {
		t.Fatalf("unknown plugin: %v", err)
	}

	fs.Set("logger_plugin", "filesystem")
	fs.Set("logger_mode", "0800")
	if _, err := FromFlags(fs, &out); err == nil || !strings.Contains(err.Error(), "octal") {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestConfigFromFlags(t *testing.T) {
	fs := flags.Standard()
	cfg, err := ConfigFromFlags(fs)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Path: "/var/log/osquery/", Mode: 0o640, RotateSize: 26214400, RotateMaxFiles: 25}
	if cfg.Path != want.Path || cfg.Mode != want.Mode || cfg.Rotate || cfg.RotateSize != want.RotateSize || cfg.RotateMaxFiles != want.RotateMaxFiles {
		t.Fatalf("%+v", cfg)
	}
	fs.Set("osquery_log_dir", "/tmp/x")
	fs.Set("logger_rotate", "true")
	fs.Set("logger_rotate_size", "1024")
	fs.Set("logger_rotate_max_files", "3")
	cfg, _ = ConfigFromFlags(fs)
	if cfg.Path != "/tmp/x" || !cfg.Rotate || cfg.RotateSize != 1024 || cfg.RotateMaxFiles != 3 {
		t.Fatalf("%+v", cfg)
	}
}

func TestRegister(t *testing.T) {
	Register("test_plugin", func(c Config) (Plugin, error) { return &failing{name: "test_plugin"}, nil })
	defer func() {
		registryMu.Lock()
		delete(registry, "test_plugin")
		registryMu.Unlock()
	}()
	if p, err := New("test_plugin", Config{}); err != nil || p.Name() != "test_plugin" {
		t.Fatal(p, err)
	}
	// Other files of the package register more plugins (tls...).
	if names := Names(); !sort.StringsAreSorted(names) || !slices.Contains(names, "filesystem") ||
		!slices.Contains(names, "stdout") || !slices.Contains(names, "test_plugin") {
		t.Fatal(names)
	}
	Register("bad_plugin", func(c Config) (Plugin, error) { return nil, errors.New("no endpoint") })
	defer func() {
		registryMu.Lock()
		delete(registry, "bad_plugin")
		registryMu.Unlock()
	}()
	if _, err := New("bad_plugin", Config{}); err == nil || err.Error() != "Cannot activate bad_plugin logger plugin: no endpoint" {
		t.Fatal(err)
	}
}
