package logger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/store"
)

// Plugin is a logger plugin. Lines are complete JSON documents without a
// trailing newline; a plugin adds its own framing. Every method is safe for
// concurrent use, and an error means the line (or status) was not recorded.
type Plugin interface {
	// Name is the --logger_plugin name ("filesystem", "stdout", or a
	// comma list for Multi).
	Name() string
	// LogResult records a result line (osquery's logString).
	LogResult(ctx context.Context, line []byte) error
	// LogSnapshot records a snapshot line; plugins without a snapshot
	// channel treat it as a result line.
	LogSnapshot(ctx context.Context, line []byte) error
	// LogStatus records status (glog) messages.
	LogStatus(ctx context.Context, statuses []logging.Status) error
	// Close flushes and releases the plugin; further calls fail.
	Close() error
}

// Config configures the plugins New builds. Zero fields take osquery's
// defaults.
type Config struct {
	// Path is --logger_path, the filesystem plugin's directory (created
	// if missing). Default /var/log/osquery/.
	Path string
	// Mode is --logger_mode, the permissions of result and snapshot files
	// (applied exactly, umask aside). Default 0640.
	Mode os.FileMode
	// Rotate is --logger_rotate.
	Rotate bool
	// RotateSize is --logger_rotate_size in bytes. Default 26214400; osquery
	// would rotate before every write with 0, which is never wanted.
	RotateSize uint64
	// RotateMaxFiles is --logger_rotate_max_files: rotated files kept
	// (X.1 to X.n). Default 25, also for 0, on which osquery's loop
	// underflows.
	RotateMaxFiles uint64
	// Out is where the stdout plugin writes. Default os.Stdout.
	Out io.Writer
	// ProgramName prefixes status log files. Default "osqueryd", the
	// name osquery's daemon gives them.
	ProgramName string
	// Hostname is written in status log file headers. Default os.Hostname.
	Hostname string
	// Pid names status log files and fills glog's thread id field.
	// Default os.Getpid.
	Pid int
	// Now is the clock for status log file names. Default time.Now.
	Now func() time.Time
	// StatusMaxSize is the size at which a status log file is replaced by
	// a new one (glog's --max_log_size, which osquery sets to 10 MB).
	// Default 10 MiB.
	StatusMaxSize int64
	// Flags are the flags the config was read from (plugins with settings
	// of their own, such as syslog, read them); nil when built by hand.
	Flags *flags.Set
	// Remote is the TLS API client the tls plugin sends with (its flags
	// and logger are the plugin's); required by tls.
	Remote *remote.Client
	// Store is the database the tls plugin buffers lines in; required by
	// tls.
	Store *store.DB
	// StatusEnvelope gives the host identifier, version and decorations
	// of buffered status lines (tls), read at each LogStatus. Default the
	// hostname and version.Osquery, without decorations.
	StatusEnvelope func() StatusEnvelope
}

// Defaults from osquery's flags and glog settings.
const (
	DefaultPath           = "/var/log/osquery/"
	DefaultMode           = os.FileMode(0o640)
	DefaultRotateSize     = 26214400
	DefaultRotateMaxFiles = 25
	DefaultProgramName    = "osqueryd"
	DefaultStatusMaxSize  = 10 << 20
)

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Mode == 0 {
		c.Mode = DefaultMode
	}
	if c.RotateSize == 0 {
		c.RotateSize = DefaultRotateSize
	}
	if c.RotateMaxFiles == 0 {
		c.RotateMaxFiles = DefaultRotateMaxFiles
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.ProgramName == "" {
		c.ProgramName = DefaultProgramName
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.Pid == 0 {
		c.Pid = os.Getpid()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StatusMaxSize <= 0 {
		c.StatusMaxSize = DefaultStatusMaxSize
	}
	return c
}

// Factory builds a plugin.
type Factory func(Config) (Plugin, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{
		"filesystem": func(c Config) (Plugin, error) { return NewFilesystem(c) },
		"stdout":     func(c Config) (Plugin, error) { return NewStdout(c), nil },
	}
)

// Register adds a plugin that New and FromFlags can build (tls, syslog...).
// It replaces a plugin of the same name.
func Register(name string, f Factory) {
	registryMu.Lock()
	registry[name] = f
	registryMu.Unlock()
}

// Names lists the registered plugin names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the named plugin. Errors read as osquery's activation failure,
// `Cannot activate <name> logger plugin: <reason>`, on which the daemon
// exits 78.
func New(name string, cfg Config) (Plugin, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("Cannot activate %s logger plugin: Unknown registry plugin", name)
	}
	p, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("Cannot activate %s logger plugin: %w", name, err)
	}
	return p, nil
}

// ConfigFromFlags reads the filesystem plugin's settings from the flags.
func ConfigFromFlags(fs *flags.Set) (Config, error) {
	mode, err := ParseMode(fs.Get("logger_mode"))
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Flags:  fs,
		Path:   fs.Get("logger_path"),
		Mode:   mode,
		Rotate: fs.Bool("logger_rotate"),
	}
	cfg.RotateSize, _ = strconv.ParseUint(fs.Get("logger_rotate_size"), 10, 64)
	cfg.RotateMaxFiles, _ = strconv.ParseUint(fs.Get("logger_rotate_max_files"), 10, 64)
	return cfg, nil
}

// FromFlags builds the --logger_plugin list (comma separated, blanks
// trimmed and empty names dropped as osquery's split does) with settings
// from the flags; the stdout plugin writes to out. Several plugins are
// combined in a Multi; an empty list gives an empty Multi that logs
// nothing. Unknown names fail with osquery's message.
func FromFlags(fs *flags.Set, out io.Writer) (Plugin, error) {
	return FromFlagsWith(fs, out, Config{})
}

// FromFlagsWith is FromFlags with what the flags cannot give: extra's
// Remote, Store and StatusEnvelope are passed to every plugin (the tls
// plugin needs the first two).
func FromFlagsWith(fs *flags.Set, out io.Writer, extra Config) (Plugin, error) {
	cfg, err := ConfigFromFlags(fs)
	if err != nil {
		return nil, err
	}
	cfg.Out = out
	cfg.Remote, cfg.Store, cfg.StatusEnvelope = extra.Remote, extra.Store, extra.StatusEnvelope
	var names []string
	for _, n := range strings.Split(fs.Get("logger_plugin"), ",") {
		if n = strings.TrimSpace(n); n != "" && !contains(names, n) {
			names = append(names, n)
		}
	}
	plugins := make([]Plugin, 0, len(names))
	for _, n := range names {
		p, err := New(n, cfg)
		if err != nil {
			for _, q := range plugins {
				q.Close()
			}
			return nil, err
		}
		plugins = append(plugins, p)
	}
	if len(plugins) == 1 {
		return plugins[0], nil
	}
	return NewMulti(plugins...), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseMode parses --logger_mode as osquery validates it: octal, at most
// five characters, between 1 and 07777.
func ParseMode(s string) (os.FileMode, error) {
	if len(s) > 5 {
		return 0, errors.New("The logger_mode flag does not contain a valid UNIX permission")
	}
	v, err := strconv.ParseInt(s, 8, 32)
	if err != nil {
		return 0, errors.New("Failed to convert logger_mode string to octal")
	}
	if v <= 0 || v > 0o7777 {
		return 0, errors.New("The logger_mode flag does not contain a valid UNIX permission")
	}
	return unixMode(uint32(v)), nil
}

// unixMode converts permission bits including setuid/setgid/sticky, which
// os.FileMode keeps in its own bits.
func unixMode(v uint32) os.FileMode {
	m := os.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// Multi sends every line and status to each of its plugins. A failing
// plugin does not stop the others; the errors are joined, each prefixed
// with its plugin's name.
type Multi struct {
	plugins []Plugin
}

// NewMulti combines plugins.
func NewMulti(plugins ...Plugin) *Multi { return &Multi{plugins: plugins} }

// Plugins returns the combined plugins.
func (m *Multi) Plugins() []Plugin { return m.plugins }

// Name joins the plugin names with commas, as --logger_plugin lists them.
func (m *Multi) Name() string {
	names := make([]string, len(m.plugins))
	for i, p := range m.plugins {
		names[i] = p.Name()
	}
	return strings.Join(names, ",")
}

func (m *Multi) each(fn func(Plugin) error) error {
	var errs []error
	for _, p := range m.plugins {
		if err := fn(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// LogResult implements Plugin.
func (m *Multi) LogResult(ctx context.Context, line []byte) error {
	return m.each(func(p Plugin) error { return p.LogResult(ctx, line) })
}

// LogSnapshot implements Plugin.
func (m *Multi) LogSnapshot(ctx context.Context, line []byte) error {
	return m.each(func(p Plugin) error { return p.LogSnapshot(ctx, line) })
}

// LogStatus implements Plugin.
func (m *Multi) LogStatus(ctx context.Context, statuses []logging.Status) error {
	return m.each(func(p Plugin) error { return p.LogStatus(ctx, statuses) })
}

// Close implements Plugin; every plugin is closed.
func (m *Multi) Close() error {
	return m.each(func(p Plugin) error { return p.Close() })
}

// BatchLogger is a plugin that records many result lines at once more
// cheaply than one by one (the tls plugin: one store transaction).
type BatchLogger interface {
	LogResults(ctx context.Context, lines [][]byte) error
}

// LogResults records lines through p, in one call when p can batch them.
func LogResults(ctx context.Context, p Plugin, lines [][]byte) error {
	if b, ok := p.(BatchLogger); ok {
		return b.LogResults(ctx, lines)
	}
	for _, l := range lines {
		if err := p.LogResult(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// LogResults implements BatchLogger, batching for the plugins that can.
func (m *Multi) LogResults(ctx context.Context, lines [][]byte) error {
	return m.each(func(p Plugin) error { return LogResults(ctx, p, lines) })
}
