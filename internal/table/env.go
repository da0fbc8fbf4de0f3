package table

import (
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
)

// Env is what generators may depend on besides the Query: filesystem roots,
// flags, a clock, a logger and the process's runtime facts. Tests build an
// Env pointing at fixtures, so tables never read globals.
type Env struct {
	// Root prefixes host paths outside /proc and /sys (/etc/passwd,
	// /var/lib/dpkg, home directories). "/" on a live host.
	Root string
	// ProcRoot and SysRoot are where procfs and sysfs are mounted.
	ProcRoot string
	SysRoot  string

	Flags   *flags.Set
	Now     func() time.Time
	Log     *slog.Logger
	Tables  *Registry
	Runtime *Runtime

	servicesMu sync.RWMutex
	services   map[any]any
}

// HostEnv returns an Env for the live host.
func HostEnv(fl *flags.Set, reg *Registry, log *slog.Logger) *Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Env{
		Root:     "/",
		ProcRoot: "/proc",
		SysRoot:  "/sys",
		Flags:    fl,
		Now:      time.Now,
		Log:      log,
		Tables:   reg,
		Runtime:  &Runtime{},
	}
}

// Path maps an absolute host path under Root.
func (e *Env) Path(p string) string {
	if e.Root == "" || e.Root == "/" {
		return p
	}
	return filepath.Join(e.Root, p)
}

// Proc joins elements under ProcRoot.
func (e *Env) Proc(elem ...string) string {
	return filepath.Join(append([]string{e.ProcRoot}, elem...)...)
}

// Sys joins elements under SysRoot.
func (e *Env) Sys(elem ...string) string {
	return filepath.Join(append([]string{e.SysRoot}, elem...)...)
}

// SetService attaches a process-wide service (the ancestry cache, the event
// manager) under a key owned by the package that defines it, which keeps
// this package free of imports on the subsystems built on top of it.
func (e *Env) SetService(key, svc any) {
	e.servicesMu.Lock()
	defer e.servicesMu.Unlock()
	if e.services == nil {
		e.services = map[any]any{}
	}
	e.services[key] = svc
}

// Service returns the service stored under key, or nil.
func (e *Env) Service(key any) any {
	e.servicesMu.RLock()
	defer e.servicesMu.RUnlock()
	return e.services[key]
}

// Runtime holds facts about this gosquery process that the osquery_* tables
// report. Fields are filled by the program that starts the engine.
type Runtime struct {
	Version    string
	StartTime  time.Time
	PID        int
	InstanceID string
	// HostUUID is the host's UUID as host_identifier=uuid would use it.
	HostUUID string
	// Watcher is the watcher process's pid, or -1 when there is none.
	Watcher int
	// ConfigHash and ConfigValid report the loaded configuration.
	ConfigHash  func() (hash string, valid bool)
	ExtensionOK func() bool
	// Plugins lists registry plugins beyond tables (config, logger, ...).
	Plugins func() []Plugin
}

// Plugin is one row of osquery_registry.
type Plugin struct {
	Registry string
	Name     string
	Owner    uint64
	Internal bool
	Active   bool
}

// ServiceOrInit returns the service under key, creating it with init the
// first time; concurrent callers get the same instance.
func (e *Env) ServiceOrInit(key any, init func() any) any {
	e.servicesMu.Lock()
	defer e.servicesMu.Unlock()
	if svc, ok := e.services[key]; ok {
		return svc
	}
	if e.services == nil {
		e.services = map[any]any{}
	}
	svc := init()
	e.services[key] = svc
	return svc
}
