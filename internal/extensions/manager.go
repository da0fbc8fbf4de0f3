package extensions

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosquery/gosquery/internal/extensions/extinfo"
	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
)

// minSDKVersion is the oldest extension SDK osquery accepts
// (kSDKVersionChanges in osquery/extensions/interface.cpp).
const minSDKVersion = "1.7.7"

// Status codes (ExtensionCode).
const (
	extSuccess = 0
	extFailed  = 1
)

// knownRegistries are the registries an extension may broadcast into.
// Only table, config and logger plugins are routed; the others are
// recorded (osquery_registry shows them) but nothing in gosquery calls them.
var knownRegistries = map[string]bool{
	"table": true, "config": true, "logger": true, "distributed": true, "sql": true,
	"config_parser": true, "database": true, "enroll": true, "event_publisher": true,
	"event_subscriber": true, "numeric_monitoring": true, "killswitch": true,
}

// Options configures a Manager.
type Options struct {
	Flags *flags.Set
	// Env is where extension tables are registered (Env.Tables) and where
	// query() runs.
	Env *table.Env
	Log *slog.Logger
	// Version is the core's version, reported for uuid 0.
	Version string
	// OnShutdown is called when a client calls shutdown() on the core.
	OnShutdown func()
	// Extension is one more binary to run and restart with the autoloaded
	// ones, without their permission checks: osqueryi's --extension, a
	// development flag.
	Extension string
}

// Manager is the core's ExtensionManager.
type Manager struct {
	fl      *flags.Set
	env     *table.Env
	log     *slog.Logger
	version string
	path    string
	timeout time.Duration
	lim     wire.Limits
	onShut  func()

	srv      *wire.Server
	engines  *enginePool
	logger   atomic.Pointer[loggerBox]
	autoload *autoloader

	mu   sync.Mutex
	exts map[int64]*extension

	stop     chan struct{}
	wg       sync.WaitGroup
	closeOne sync.Once
}

type loggerBox struct{ p logger.Plugin }

// extension is one registered extension and what it routes.
type extension struct {
	uuid     int64
	info     osquery.InternalExtensionInfo
	pool     *wire.Pool
	tables   []string
	plugins  map[string][]string // registry -> item names, as broadcast
	failures int
}

// Start listens on --extensions_socket and serves the ExtensionManager,
// starts the health checks and the autoloaded extensions, and waits for
// --extensions_require.
func Start(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	fl := o.Flags
	m := &Manager{
		fl:      fl,
		env:     o.Env,
		log:     o.Log,
		version: o.Version,
		path:    fl.Get("extensions_socket"),
		timeout: time.Duration(fl.Int("thrift_timeout")) * time.Second,
		lim:     wire.ServerLimits(int32(fl.Int("thrift_string_size_limit"))),
		onShut:  o.OnShutdown,
		exts:    map[int64]*extension{},
		stop:    make(chan struct{}),
	}
	m.engines = newEnginePool(o.Env)
	if err := os.MkdirAll(filepath.Dir(m.path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot start extension manager (%s): %w", m.path, err)
	}
	// A live manager at the path (another daemon) is left alone; only a
	// dead socket is replaced.
	if c, err := wire.Dial(m.path, time.Second, wire.ClientLimits(0)); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, perr := c.Ping(ctx)
		cancel()
		c.Close()
		if perr == nil {
			return nil, fmt.Errorf("cannot start extension manager (%s): another process is serving it", m.path)
		}
	}
	removeStaleSockets(m.path)
	ln, err := wire.Listen(m.path)
	if err != nil {
		return nil, fmt.Errorf("cannot start extension manager (%s): %w", m.path, err)
	}
	m.srv = wire.NewServer(ln, osquery.NewExtensionManagerProcessor(m), wire.ServerOptions{
		Limits: m.lim, Timeout: m.timeout, Log: m.log,
	})
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(); err != nil {
			m.log.Warn("Extension manager stopped serving: " + err.Error())
		}
	}()
	go func() {
		defer m.wg.Done()
		m.watch()
	}()
	m.log.Info("Extension manager service starting: " + m.path)
	m.autoload = startAutoload(m, o.Extension)
	if req := fl.Get("extensions_require"); req != "" {
		for _, name := range splitComma(req) {
			if !m.waitFor(func() bool { return m.registered(name) }) {
				msg := "Required extension not found or not loaded: " + name
				m.log.Warn(msg)
				m.Close()
				return nil, fmt.Errorf("%s", msg)
			}
		}
	}
	m.publish()
	return m, nil
}

// publish makes the manager visible to the tables: osquery_extensions,
// osquery_info.extensions and, unless the host set its own list,
// osquery_registry.
func (m *Manager) publish() {
	m.env.SetService(extinfo.Key, m)
	if rt := m.env.Runtime; rt != nil {
		rt.ExtensionOK = m.Healthy
		if rt.Plugins == nil {
			rt.Plugins = m.Plugins
		}
	}
}

// Path is the manager's socket.
func (m *Manager) Path() string { return m.path }

// SetLogger gives the manager the daemon's active logger, for extensions
// that call the core's logger registry.
func (m *Manager) SetLogger(p logger.Plugin) { m.logger.Store(&loggerBox{p}) }

// extensionsTimeout is --extensions_timeout, at least 200ms as osquery's.
func (m *Manager) extensionsTimeout() time.Duration {
	return max(flagDuration(m.fl.Get("extensions_timeout")), 200*time.Millisecond)
}

func flagDuration(s string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// waitFor polls ok every 20ms for up to --extensions_timeout.
func (m *Manager) waitFor(ok func() bool) bool {
	deadline := time.Now().Add(m.extensionsTimeout())
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-m.stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitForPlugin waits up to --extensions_timeout for a plugin of the
// registry (config, logger) to exist, for a daemon whose --config_plugin
// or --logger_plugin an extension provides. It reports whether it exists.
func (m *Manager) WaitForPlugin(registry, name string) bool {
	return m.waitFor(func() bool { return pluginExists(registry, name) })
}

// WaitForExtension waits up to --extensions_timeout for any extension to
// register, for a shell started with --extension whose first statement
// may use the extension's tables. It reports whether one did.
func (m *Manager) WaitForExtension() bool {
	return m.waitFor(func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.exts) > 0
	})
}

func (m *Manager) registered(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.exts {
		if e.info.Name == name {
			return true
		}
	}
	return false
}

// Healthy reports whether the manager answers a ping on its socket
// (osquery_info.extensions).
func (m *Manager) Healthy() bool {
	c, err := wire.Dial(m.path, time.Second, wire.ClientLimits(0))
	if err != nil {
		return false
	}
	defer c.Close()
	st, err := c.Ping(context.Background())
	return err == nil && st.GetCode() == extSuccess
}

// ExtensionList implements extinfo.Lister for osquery_extensions.
func (m *Manager) ExtensionList() []extinfo.Info {
	out := []extinfo.Info{{UUID: 0, Name: "core", Version: m.version, SDKVersion: m.version, Path: m.path, Type: "core"}}
	m.mu.Lock()
	for _, e := range m.exts {
		out = append(out, extinfo.Info{UUID: e.uuid, Name: e.info.Name, Version: e.info.Version,
			SDKVersion: e.info.SdkVersion, Path: e.pool.Path(), Type: "extension"})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

// Plugins lists the non-table plugins for osquery_registry: the core's
// config and logger plugins and whatever extensions registered.
func (m *Manager) Plugins() []table.Plugin {
	var out []table.Plugin
	activeLoggers := splitComma(m.fl.Get("logger_plugin"))
	owned := map[string]int64{}
	m.mu.Lock()
	for _, e := range m.exts {
		for reg, items := range e.plugins {
			for _, it := range items {
				owned[reg+"/"+it] = e.uuid
				if reg != "table" && reg != "config" && reg != "logger" {
					out = append(out, table.Plugin{Registry: reg, Name: it, Owner: uint64(e.uuid)})
				}
			}
		}
	}
	m.mu.Unlock()
	for _, n := range configNames() {
		u, ext := owned["config/"+n]
		if !ext && isExtensionPlugin("config", n) {
			continue // an extension's plugin whose extension is gone
		}
		out = append(out, table.Plugin{Registry: "config", Name: n, Owner: uint64(u), Internal: false, Active: n == m.fl.Get("config_plugin")})
	}
	for _, n := range logger.Names() {
		u, ext := owned["logger/"+n]
		if !ext && isExtensionPlugin("logger", n) {
			continue
		}
		active := false
		for _, a := range activeLoggers {
			active = active || a == n
		}
		out = append(out, table.Plugin{Registry: "logger", Name: n, Owner: uint64(u), Active: active})
	}
	return out
}

// Close asks every extension to shut down, stops the autoloaded ones,
// stops serving and removes the socket and stale extension sockets.
func (m *Manager) Close() {
	m.closeOne.Do(func() {
		close(m.stop)
		exts := m.registeredExtensions()
		var wg sync.WaitGroup
		for _, e := range exts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				e.pool.Do(func(c *wire.Client) error { return c.Shutdown(ctx) })
			}()
		}
		wg.Wait()
		for _, e := range exts {
			m.remove(e.uuid)
		}
		if m.autoload != nil {
			m.autoload.stop()
		}
		m.srv.Close()
		m.wg.Wait()
		m.engines.close()
		removeStaleSockets(m.path)
	})
}

// registeredExtensions is a snapshot of the registered extensions, to
// call them without holding the lock.
func (m *Manager) registeredExtensions() []*extension {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.exts))
}

// removeStaleSockets removes <path>.* left by extensions of an earlier run.
func removeStaleSockets(path string) {
	matches, _ := filepath.Glob(globEscape(path) + ".*")
	for _, p := range matches {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(p)
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// watch pings every extension each --extensions_interval; one that fails
// twice in a row is deregistered.
func (m *Manager) watch() {
	interval := max(flagDuration(m.fl.Get("extensions_interval")), 200*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		exts := m.registeredExtensions()
		for _, e := range exts {
			ok := m.pingExtension(e, max(interval, time.Second))
			m.mu.Lock()
			if ok {
				e.failures = 0
			} else {
				e.failures++
			}
			gone := e.failures >= 2
			m.mu.Unlock()
			if gone {
				m.log.Info(fmt.Sprintf("Extension UUID %d has gone away", e.uuid))
				m.remove(e.uuid)
			}
		}
	}
}

// pingExtension checks one extension as osquery's watcher does: its socket
// must still exist, and ping must answer.
func (m *Manager) pingExtension(e *extension, timeout time.Duration) bool {
	if fi, err := os.Stat(e.pool.Path()); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var st *osquery.ExtensionStatus
	err := e.pool.Do(func(c *wire.Client) (err error) { st, err = c.Ping(ctx); return })
	return err == nil && st.GetCode() == extSuccess
}

// --- ExtensionManager service ---

func status(code int32, msg string, uuid int64) *osquery.ExtensionStatus {
	return &osquery.ExtensionStatus{Code: code, Message: msg, UUID: osquery.ExtensionRouteUUID(uuid)}
}

func failed(msg string) *osquery.ExtensionResponse {
	return &osquery.ExtensionResponse{Status: status(extFailed, msg, 0), Response: osquery.ExtensionPluginResponse{}}
}

func succeeded(rows []map[string]string) *osquery.ExtensionResponse {
	if rows == nil {
		rows = []map[string]string{}
	}
	return &osquery.ExtensionResponse{Status: status(extSuccess, "OK", 0), Response: rows}
}

// Ping implements ping(): the core answers with uuid 0.
func (m *Manager) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	return status(extSuccess, "pong", 0), nil
}

// Shutdown implements shutdown(): the core stops, as osquery's does.
func (m *Manager) Shutdown(context.Context) error {
	m.log.Info("Extension manager: shutdown requested over the socket")
	if m.onShut != nil {
		go m.onShut()
	}
	return nil
}

// Extensions implements extensions(); the core itself is not listed.
func (m *Manager) Extensions(context.Context) (osquery.InternalExtensionList, error) {
	out := osquery.InternalExtensionList{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for u, e := range m.exts {
		info := e.info
		out[osquery.ExtensionRouteUUID(u)] = &info
	}
	return out, nil
}

// Options implements options(): every flag with value, default and type.
func (m *Manager) Options(context.Context) (osquery.InternalOptionList, error) {
	out := osquery.InternalOptionList{}
	for _, f := range m.fl.All() {
		out[f.Name] = &osquery.InternalOptionInfo{Value: f.Value, DefaultValue: f.Default, Type: string(f.Type)}
	}
	return out, nil
}

// RegisterExtension implements registerExtension().
func (m *Manager) RegisterExtension(_ context.Context, info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	if info == nil {
		info = &osquery.InternalExtensionInfo{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.exts {
		if e.info.Name == info.Name {
			m.log.Warn("Refusing to register duplicate extension " + info.Name)
			return status(extFailed, "Duplicate extension registered", 0), nil
		}
	}
	if !versionAtLeast(minSDKVersion, info.SdkVersion) {
		m.log.Warn(fmt.Sprintf("Could not add extension %s: incompatible extension SDK %s, minimum required is %s", info.Name, info.SdkVersion, minSDKVersion))
		return status(extFailed, "Incompatible extension SDK version", 0), nil
	}
	var uuid int64
	for {
		uuid = int64(rand.N(65535)) + 1
		if _, used := m.exts[uuid]; !used {
			break
		}
	}
	e := &extension{uuid: uuid, info: *info, plugins: map[string][]string{},
		pool: wire.NewExtensionPool(fmt.Sprintf("%s.%d", m.path, uuid), m.timeout, wire.ClientLimits(m.lim.MaxString))}
	if err := m.addRoutes(e, reg); err != nil {
		m.log.Warn(fmt.Sprintf("Could not add extension %s: %v", info.Name, err))
		return status(extFailed, "Failed adding registry: "+err.Error(), 0), nil
	}
	m.exts[uuid] = e
	m.log.Info(fmt.Sprintf("Registering extension (%s, %d, version=%s, sdk=%s)", info.Name, uuid, info.Version, info.SdkVersion))
	return status(extSuccess, "OK", uuid), nil
}

// DeregisterExtension implements deregisterExtension().
func (m *Manager) DeregisterExtension(_ context.Context, uuid osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	if !m.remove(int64(uuid)) {
		return status(extFailed, "No extension UUID found", 0), nil
	}
	return status(extSuccess, "OK", int64(uuid)), nil
}

// remove drops an extension and its routes; it reports whether it existed.
func (m *Manager) remove(uuid int64) bool {
	m.mu.Lock()
	e, ok := m.exts[uuid]
	if ok {
		delete(m.exts, uuid)
	}
	m.mu.Unlock()
	if !ok {
		return false
	}
	for _, t := range e.tables {
		if d := m.env.Tables.Get(t); d != nil && d.Owner == uint64(uuid) {
			m.env.Tables.Remove(t)
		}
	}
	unroutePlugins(e)
	e.pool.Close()
	return true
}

// Query implements query(): every value as text, NULL as "".
func (m *Manager) Query(ctx context.Context, sql string) (*osquery.ExtensionResponse, error) {
	var rows []map[string]string
	err := m.engines.with(func(db *sqlengine.DB) error {
		res, err := db.Query(ctx, sql)
		if err != nil {
			return err
		}
		rows = make([]map[string]string, len(res.Rows))
		for i, r := range res.Rows {
			row := make(map[string]string, len(r))
			for j, v := range r {
				row[res.Columns[j]] = v.String()
			}
			rows[i] = row
		}
		return nil
	})
	if err != nil {
		return failed(err.Error()), nil
	}
	return succeeded(rows), nil
}

// GetQueryColumns implements getQueryColumns(): one {name: type} per result
// column, in order.
func (m *Manager) GetQueryColumns(ctx context.Context, sql string) (*osquery.ExtensionResponse, error) {
	var rows []map[string]string
	err := m.engines.with(func(db *sqlengine.DB) error {
		cols, err := db.Columns(ctx, sql)
		for _, c := range cols {
			rows = append(rows, map[string]string{c.Name: c.Type})
		}
		return err
	})
	if err != nil {
		return failed(err.Error()), nil
	}
	return succeeded(rows), nil
}

// versionAtLeast reports whether have >= want, comparing dotted numbers as
// osquery does; an unknown ("" or 0.0.0) version passes.
func versionAtLeast(want, have string) bool {
	if have == "" || have == "0.0.0" || want == "0.0.0" {
		return true
	}
	w, h := strings.Split(want, "."), strings.Split(have, ".")
	for i := range h {
		if i >= len(w) {
			return true
		}
		hv, err1 := strconv.ParseInt(h[i], 10, 64)
		wv, err2 := strconv.ParseInt(w[i], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if hv != wv {
			return hv > wv
		}
	}
	return true
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// enginePool runs query() and getQueryColumns(): on the manager's own
// connection when it is free, else on a transient one (as osquery does when
// its primary database is busy), so an extension table whose generator
// queries the core does not deadlock on the statement that called it.
type enginePool struct {
	env       *table.Env
	mu        sync.Mutex
	primary   *sqlengine.DB
	transient chan struct{}
	closed    atomic.Bool
}

func newEnginePool(env *table.Env) *enginePool {
	return &enginePool{env: env, transient: make(chan struct{}, 8)}
}

func (p *enginePool) with(fn func(*sqlengine.DB) error) error {
	if p.closed.Load() {
		return fmt.Errorf("extension manager is stopping")
	}
	if p.mu.TryLock() {
		defer p.mu.Unlock()
		if p.primary == nil {
			db, err := sqlengine.Open(p.env)
			if err != nil {
				return err
			}
			p.primary = db
		}
		return fn(p.primary)
	}
	p.transient <- struct{}{}
	defer func() { <-p.transient }()
	db, err := sqlengine.Open(p.env)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func (p *enginePool) close() {
	p.closed.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.primary != nil {
		p.primary.Close()
		p.primary = nil
	}
}
