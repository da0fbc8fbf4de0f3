// Package daemon is osqueryd: it loads the config (or the embedded
// default), runs the event publishers, the scheduler and the loggers,
// keeps its state in the store, and shuts down cleanly on SIGTERM/SIGINT,
// giving the kernel's audit back as it found it.
package daemon

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/events"
	_ "github.com/gosquery/gosquery/internal/events/auditpub" // the audit publisher
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/hostid"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/schedule"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/version"
)

// DefaultConfig is the configuration used when --config_path is left at
// its default and /etc/osquery/osquery.conf does not exist, so that
// `osqueryd` on a fresh machine collects process events with ancestry and
// logs a useful schedule.
//
//go:embed default.conf
var DefaultConfig []byte

// Exit codes, as osquery's.
const (
	exitOK           = 0
	exitFailure      = 1
	exitCatastrophic = 78
)

// Options carries what the daemon needs from the process around it.
type Options struct {
	Flags  *flags.Set
	Stdout io.Writer
	Stderr io.Writer
	// Env is the table environment; Runtime is filled here.
	Env *table.Env
	// Level is the stderr status level, adjusted from the flags.
	Level *slog.LevelVar
	// Status is the glog handler, whose statuses also go to the logger.
	Status *logging.Handler
}

// Run runs osqueryd until SIGTERM/SIGINT and returns the exit code.
func Run(o Options) (code int) {
	fl, env := o.Flags, o.Env
	log := env.Log
	ctx := context.Background()

	if fl.Bool("config_check") || fl.Bool("config_dump") {
		return configCheckOrDump(ctx, fl, o.Stdout, o.Stderr, log)
	}
	if fl.Bool("daemonize") && os.Getenv(daemonizedEnv) == "" {
		return daemonize(o.Stderr)
	}
	// Signals are caught from here on, before the pidfile names us and
	// before audit is configured: a SIGTERM during start-up is handled
	// once start-up is done, as a clean shutdown that gives audit back.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// Requests to the TLS server (enrollment, config fetches with their
	// retries) run under netCtx, which a SIGTERM cancels at once, so a
	// daemon waiting for an unreachable server still stops promptly.
	netCtx, stopNet := context.WithCancel(ctx)
	defer stopNet()
	hup, term := make(chan struct{}, 1), make(chan os.Signal, 1)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				select {
				case hup <- struct{}{}:
				default:
				}
				continue
			}
			stopNet()
			select {
			case term <- sig:
			default:
			}
		}
	}()
	if !fl.Bool("ephemeral") {
		release, err := lockPidfile(fl.Get("pidfile"), fl.Bool("force"))
		if err != nil {
			fmt.Fprintln(o.Stderr, err)
			return exitFailure
		}
		defer release()
	}

	dbPath := fl.Get("database_path")
	if fl.Bool("disable_database") || fl.Bool("ephemeral") {
		dbPath = ""
	}
	st, err := store.Open(dbPath, log)
	if err != nil {
		log.Error("Cannot open the database: " + err.Error())
		return exitCatastrophic
	}
	defer st.Close()

	d := &daemon{fl: fl, env: env, store: st, log: log}
	d.identify(ctx)

	// The extension manager serves before the config and logger plugins
	// are chosen, because an extension may provide them.
	mgr, code := startExtensions(fl, env, log)
	if code != exitOK {
		return code
	}
	if mgr != nil {
		defer mgr.Close()
	}

	// The SQL engine opens before the config loads: enrollment (the tls
	// config plugin's first request) sends the host's details, read by SQL.
	db, err := sqlengine.Open(env)
	if err != nil {
		log.Error("Cannot open the SQL engine: " + err.Error())
		return exitCatastrophic
	}
	defer db.Close()
	d.db = db
	d.remote = remote.New(remote.Options{
		Flags: fl, Store: st, Log: log,
		HostIdentifier: d.hostIdentifier,
		HostDetails:    d.hostDetails,
	})

	// The config's options apply before plugins start: they may set the
	// logger path, audit flags, ancestry sizes.
	cfg := d.loadConfig(netCtx)

	plugin, err := logger.FromFlagsWith(fl, o.Stdout, logger.Config{Remote: d.remote, Store: st, StatusEnvelope: d.statusEnvelope})
	if err != nil {
		log.Error(err.Error())
		return exitCatastrophic
	}
	defer plugin.Close()
	d.logger = plugin
	if mgr != nil {
		mgr.SetLogger(plugin) // extensions may log through the core
	}
	if !fl.Bool("disable_logging") {
		stopStatus := d.forwardStatus(o.Status)
		defer stopStatus()
	}

	m := events.NewManager(env, st)
	d.events = m
	if cfg != nil {
		m.SetEnabled(cfg.Events.EnableSubscribers, cfg.Events.DisableSubscribers)
	}
	// Audit state is machine-global: give it back however we leave,
	// including a panic.
	defer func() {
		if err := m.Stop(); err != nil {
			log.Error("Stopping event publishers: " + err.Error())
		}
		if r := recover(); r != nil {
			panic(r)
		}
	}()
	if err := m.Start(ctx); err != nil {
		log.Error("Cannot start events: " + err.Error())
	}
	m.LimitProcs()

	sched := schedule.New(env, db, st, plugin, d.hostIdentifier)
	d.sched = sched
	d.schedRef.Store(sched)
	if cfg != nil {
		d.applyViews(ctx, cfg)
		sched.Configure(ctx, cfg)
	}
	replay, err := d.replayFilter(ctx)
	if err != nil {
		log.Error("Cannot replay results logged before a crash: " + err.Error())
		return exitCatastrophic
	}
	if err := sched.ReplayPending(ctx, replay); err != nil {
		log.Error("Cannot replay results logged before a crash: " + err.Error())
		return exitCatastrophic
	}
	log.Info(fmt.Sprintf("osqueryd started [version=%s]", version.Osquery))

	runCtx, cancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	// The remote workers stop before the store and the engine close.
	defer func() { cancel(); workers.Wait() }()
	d.startRemoteWorkers(runCtx, &workers)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(runCtx)
	}()
	refresh := newRefreshTimer(fl, cfg != nil)
	defer refresh.stop()
	for {
		select {
		case <-hup:
			d.reload(netCtx)
		case sig := <-term:
			log.Info(fmt.Sprintf("osqueryd shutting down on %v", sig))
			cancel()
			<-done
			return exitOK
		case <-refresh.C():
			refresh.reset(d.reload(netCtx))
		case <-done:
			// schedule_timeout ended the scheduler.
			return exitOK
		}
	}
}

type daemon struct {
	remote *remote.Client
	// schedRef is sched for goroutines started before it existed (the
	// status forwarder reads its decorations).
	schedRef atomic.Pointer[schedule.Scheduler]
	fl       *flags.Set
	env      *table.Env
	store    *store.DB
	log      *slog.Logger
	logger   logger.Plugin
	db       *sqlengine.DB
	events   *events.Manager
	sched    *schedule.Scheduler

	mu          sync.Mutex
	ephemeralID string
	cfg         *config.Config
	lastGood    *config.Config
}

// configPlugin returns the config source: the --config_plugin, or the
// embedded default when the filesystem plugin's default path is missing.
func (d *daemon) configPlugin() (config.Plugin, error) {
	name := d.fl.Get("config_plugin")
	if name == "tls" && d.remote != nil {
		return config.NewTLS(d.remote), nil
	}
	if name == "filesystem" && !d.fl.Changed("config_path") {
		if _, err := os.Stat(d.fl.Get("config_path")); errors.Is(err, os.ErrNotExist) {
			return embeddedConfig{}, nil
		}
	}
	return config.NewPlugin(name, d.fl)
}

// embeddedConfig serves DefaultConfig as the single source "embedded".
type embeddedConfig struct{}

func (embeddedConfig) Name() string { return "embedded" }
func (embeddedConfig) Gen(context.Context) (map[string][]byte, error) {
	return map[string][]byte{"embedded:default.conf": DefaultConfig}, nil
}
func (embeddedConfig) GenPack(_ context.Context, name, _ string) ([]byte, error) {
	return nil, fmt.Errorf("the embedded config has no pack %s", name)
}

// loadConfig loads the config and applies its options; a failure keeps
// the daemon running without a schedule, as osquery's does.
func (d *daemon) loadConfig(ctx context.Context) *config.Config {
	p, err := d.configPlugin()
	if err != nil {
		d.log.Error(err.Error())
		return nil
	}
	if _, ok := p.(embeddedConfig); ok {
		d.log.Info("No config at " + d.fl.Get("config_path") + "; using the embedded default config")
	}
	opts := config.OptionsFromFlags(d.fl)
	opts.Hostname, _ = os.Hostname()
	opts.Version = version.Osquery
	cfg, warns, err := config.Load(ctx, p, opts)
	for _, w := range warns {
		d.log.Log(ctx, w.Level, w.Message)
	}
	if err != nil {
		d.log.Warn("Error reading config: " + err.Error())
		return nil
	}
	if t, ok := p.(*config.TLS); ok {
		if err := t.Backup(ctx); err != nil {
			d.log.Warn("Cannot back up the config: " + err.Error())
		}
	}
	d.mu.Lock()
	d.cfg, d.lastGood = cfg, cfg
	d.mu.Unlock()
	d.env.Runtime.ConfigHash = func() (string, bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.lastGood == nil {
			return "", false
		}
		return d.lastGood.Hash, true
	}
	return cfg
}

// reload re-reads the config (SIGHUP, --config_refresh). A config that
// fails to load leaves the running one in place, and says why.
func (d *daemon) reload(ctx context.Context) (ok bool) {
	cfg := d.loadConfig(ctx)
	if cfg == nil {
		d.log.Warn("Config reload failed; keeping the last good config")
		return false
	}
	d.events.SetEnabled(cfg.Events.EnableSubscribers, cfg.Events.DisableSubscribers)
	d.applyViews(ctx, cfg)
	d.sched.Configure(ctx, cfg)
	d.log.Info("Config reloaded")
	return true
}

// applyViews creates the config's views on the scheduler's connection.
func (d *daemon) applyViews(ctx context.Context, cfg *config.Config) {
	for _, v := range cfg.Views {
		d.db.Query(ctx, "DROP VIEW IF EXISTS "+quoteIdent(v.Name))
		if _, err := d.db.Query(ctx, "CREATE VIEW "+quoteIdent(v.Name)+" AS "+v.SQL); err != nil {
			d.log.Warn(fmt.Sprintf("Cannot create view %s: %v", v.Name, err))
		}
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// identify fills the runtime facts and the host identifier, persisting the
// generated ones (host_uuid_v3, instance_uuid_v1) as osquery does.
func (d *daemon) identify(ctx context.Context) {
	rt := d.env.Runtime
	rt.HostUUID = d.persistentID(ctx, "host_uuid_v3", func() string {
		if u, ok := hostid.HardwareUUID(d.env.Root, d.env.SysRoot); ok {
			return u
		}
		return hostid.Random()
	})
	rt.InstanceID = d.persistentID(ctx, "instance_uuid_v1", hostid.Random)
	d.ephemeralID = hostid.Random()
}

// hostIdentifier is --host_identifier's value now: the config may change
// the flag on any reload.
func (d *daemon) hostIdentifier() string {
	rt := d.env.Runtime
	switch d.fl.Get("host_identifier") {
	case "uuid":
		return rt.HostUUID
	case "instance":
		return rt.InstanceID
	case "ephemeral":
		return d.ephemeralID
	case "specified":
		return d.fl.Get("specified_identifier")
	}
	h, _ := os.Hostname()
	return h
}

func (d *daemon) persistentID(ctx context.Context, key string, gen func() string) string {
	if b, ok, err := d.store.Get(ctx, store.DomainConfigurations, key); err == nil && ok && len(b) > 0 {
		return string(b)
	}
	id := gen()
	if err := d.store.Put(ctx, store.DomainConfigurations, key, []byte(id)); err != nil {
		d.log.Warn("Cannot persist " + key + ": " + err.Error())
	}
	return id
}

// alreadyLogged reads the tail of the filesystem logger's results file
// once and reports, for each line a replay offers, whether it is already
// there (a run that crashed after writing but before confirming), so a
// replay never logs it twice.
func (d *daemon) alreadyLogged() func(line []byte) bool {
	logged := map[string]bool{}
	if f, err := os.Open(filepath.Join(d.fl.Get("logger_path"), logger.ResultsFile)); err == nil {
		const tail = 4 << 20
		if st, err := f.Stat(); err == nil && st.Size() > tail {
			f.Seek(st.Size()-tail, io.SeekStart)
		}
		b, err := io.ReadAll(io.LimitReader(f, tail))
		f.Close()
		if err == nil {
			for _, l := range bytes.Split(b, []byte("\n")) {
				logged[string(l)] = true
			}
		}
	}
	return func(line []byte) bool { return logged[string(line)] }
}

// forwardStatus hands status messages to the logger plugins every three
// seconds (osquery's cadence), at or above --logger_min_status.
func (d *daemon) forwardStatus(h *logging.Handler) (stop func()) {
	var (
		mu      sync.Mutex
		pending []logging.Status
	)
	h.AddSink(func(s logging.Status) {
		if int(s.Severity) < int(d.fl.Int("logger_min_status")) {
			return
		}
		mu.Lock()
		if len(pending) < 10000 {
			pending = append(pending, s)
		}
		mu.Unlock()
	})
	flush := func() {
		mu.Lock()
		batch := pending
		pending = nil
		mu.Unlock()
		if len(batch) > 0 {
			d.logger.LogStatus(context.Background(), batch)
		}
	}
	t := time.NewTicker(3 * time.Second)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				flush()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(quit)
		flush()
	}
}

func configCheckOrDump(ctx context.Context, fl *flags.Set, stdout, stderr io.Writer, log *slog.Logger) int {
	d := &daemon{fl: fl, log: log}
	p, err := d.configPlugin()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCatastrophic
	}
	if fl.Bool("config_dump") {
		sources, err := p.Gen(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "Error reading config: %v\n", err)
			return exitFailure
		}
		fmt.Fprint(stdout, config.DumpSources(sources))
		return exitOK
	}
	opts := config.OptionsFromFlags(fl)
	opts.Hostname, _ = os.Hostname()
	opts.Version = version.Osquery
	_, warns, err := config.Load(ctx, p, opts)
	for _, w := range warns {
		log.Log(ctx, w.Level, w.Message)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error reading config: %v\n", err)
		return exitFailure
	}
	return exitOK
}
