package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/distributed"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/version"
)

// hostDetailsTables are the tables whose first row enrollment sends as
// host_details, osquery's list.
var hostDetailsTables = []string{"os_version", "osquery_info", "platform_info", "system_info"}

// hostDetails reads the first row of each host_details table, every value
// as a string; a table without rows (or missing) is left out.
func (d *daemon) hostDetails(ctx context.Context) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, t := range hostDetailsTables {
		res, err := d.db.Query(ctx, "SELECT * FROM "+t+" LIMIT 1")
		if err != nil {
			d.log.Debug("host_details: " + t + ": " + err.Error())
			continue
		}
		if len(res.Rows) == 0 {
			continue
		}
		row := map[string]string{}
		for i, c := range res.Columns {
			row[c] = res.Rows[0][i].String()
		}
		out[t] = row
	}
	return out
}

// refreshTimer is the config refresh cadence: every --config_refresh
// seconds, and every --config_accelerated_refresh seconds while the last
// load failed. osquery retries a failing config only when config_refresh
// is set; here a daemon that started without any config also retries at
// the accelerated period, so a host whose server was down at boot gets
// its schedule when the server returns.
type refreshTimer struct {
	fl      *flags.Set
	t       *time.Timer
	haveCfg bool
}

func newRefreshTimer(fl *flags.Set, loaded bool) *refreshTimer {
	r := &refreshTimer{fl: fl, haveCfg: loaded}
	r.reset(loaded)
	return r
}

func (r *refreshTimer) reset(ok bool) {
	if ok {
		r.haveCfg = true
	}
	refresh := time.Duration(r.fl.Int("config_refresh")) * time.Second
	accel := time.Duration(r.fl.Int("config_accelerated_refresh")) * time.Second
	next := refresh
	if !ok && (refresh > 0 || !r.haveCfg) {
		next = accel
	}
	if r.t != nil {
		r.t.Stop()
		r.t = nil
	}
	if next > 0 {
		r.t = time.NewTimer(next)
	}
}

// C is the timer's channel, nil (never ready) when no refresh is due.
func (r *refreshTimer) C() <-chan time.Time {
	if r.t == nil {
		return nil
	}
	return r.t.C
}

func (r *refreshTimer) stop() {
	if r.t != nil {
		r.t.Stop()
	}
}

// statusEnvelope is what the buffered (tls) status lines carry.
func (d *daemon) statusEnvelope() logger.StatusEnvelope {
	env := logger.StatusEnvelope{HostIdentifier: d.hostIdentifier(), Version: version.Osquery,
		DecorationsTopLevel: d.fl.Bool("decorations_top_level")}
	if s := d.schedRef.Load(); s != nil {
		env.Decorations = s.StoredDecorations()
	}
	return env
}

// replayFilter is the scheduler's written callback after a crash. With
// several logger plugins a line may have reached some and not others, so
// it hands the line to each plugin that does not have it (the filesystem
// plugin's results file, the tls plugin's buffer and sent memory) and
// reports it handled; plugins that cannot tell (stdout) get it again.
func (d *daemon) replayFilter(ctx context.Context) (func(line []byte) bool, error) {
	plugins := []logger.Plugin{d.logger}
	if m, ok := d.logger.(*logger.Multi); ok {
		plugins = m.Plugins()
	}
	held := make([]func([]byte) bool, len(plugins))
	for i, p := range plugins {
		switch x := p.(type) {
		case *logger.TLS:
			f, err := x.ReplayFilter(ctx)
			if err != nil {
				return nil, err
			}
			held[i] = f
		case *logger.Filesystem:
			held[i] = d.alreadyLogged()
		default:
			held[i] = func([]byte) bool { return false }
		}
	}
	return func(line []byte) bool {
		for i, p := range plugins {
			if held[i](line) {
				continue
			}
			if err := p.LogResult(ctx, line); err != nil {
				d.log.Error("Replaying a result line to the " + p.Name() + " logger: " + err.Error())
			}
		}
		return true
	}, nil
}

// startRemoteWorkers starts what talks to the TLS server on its own
// schedule: the distributed query loop (--disable_distributed=false, on a
// SQL connection of its own so a long live query never delays the
// schedule) and the carver (which also serves the carves table and
// carve()).
func (d *daemon) startRemoteWorkers(ctx context.Context, wg *sync.WaitGroup) {
	if !d.fl.Bool("disable_distributed") {
		if p := d.fl.Get("distributed_plugin"); p != "tls" {
			d.log.Warn("Distributed plugin " + p + " is not available; live queries are off")
		} else if db, err := sqlengine.Open(d.env); err != nil {
			d.log.Error("Cannot open the SQL engine for distributed queries: " + err.Error())
		} else {
			r := distributed.New(distributed.Options{Client: d.remote, DB: db, Store: d.store, Flags: d.fl, Log: d.log})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer db.Close()
				if err := r.Run(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("Distributed queries stopped: " + err.Error())
				}
			}()
		}
	}
	c := carver.New(carver.Options{Client: d.remote, Store: d.store, Flags: d.fl, Log: d.log})
	c.Attach(d.env)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("Carver stopped: " + err.Error())
		}
	}()
}
