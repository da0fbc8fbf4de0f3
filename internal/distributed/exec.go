package distributed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
)

// hashQuery is osquery's key of a running query: the SHA-256 of its SQL,
// lower-case hex.
func hashQuery(sql string) string {
	h := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(h[:])
}

// runQueued runs every queued query, in id order as osquery's key scan.
func (r *Runner) runQueued(ctx context.Context) error {
	var todo []query
	err := r.o.Store.Scan(ctx, store.DomainDistributed, "", func(key string, v []byte) error {
		if strings.HasPrefix(key, resultPrefix) {
			return store.ErrStopScan // results sort after every id
		}
		todo = append(todo, query{key, string(v)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read distributed queue: %w", err)
	}
	var errs []error
	for _, q := range todo {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.execute(ctx, q); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// expired reports whether a running marker started at ts (unix seconds; 0
// when unreadable, as osquery) is past --distributed_denylist_duration.
func (r *Runner) expired(ts []byte, now time.Time) bool {
	start, _ := strconv.ParseInt(string(ts), 10, 64)
	return now.Unix() > start+r.o.Flags.Int("distributed_denylist_duration")
}

// markRunning stores the running marker of a query about to run, unless a
// marker left by a worker that died running the same SQL still denylists
// it.
func (r *Runner) markRunning(ctx context.Context, key string, now time.Time) (denied bool, err error) {
	err = r.o.Store.Update(ctx, func(tx *store.Tx) error {
		v, ok, err := tx.Get(store.DomainDistributedRunning, key)
		if err != nil {
			return err
		}
		if ok && !r.expired(v, now) {
			denied = true
			return nil
		}
		return tx.Put(store.DomainDistributedRunning, key, []byte(strconv.FormatInt(now.Unix(), 10)))
	})
	return denied, err
}

// execute runs one queued query and records its result.
func (r *Runner) execute(ctx context.Context, q query) error {
	if r.pending.has(q.id) {
		// Answered already; the answer waits for the next write.
		return nil
	}
	key := hashQuery(q.sql)
	denied, err := r.markRunning(ctx, key, r.o.Now())
	marked := err == nil && !denied
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// osquery runs the query anyway; it just cannot be denylisted
		// if it kills the worker.
		r.o.Log.Error("Failed to set distributed query as running: " + truncate(q.id) + " (hash: " + key + "): " + err.Error())
	}
	if denied {
		r.o.Log.Debug("Not executing distributed denylisted query " + truncate(q.id) + ": " + truncate(q.sql))
		r.pending.add(&result{id: q.id, status: 1, message: DenylistedMessage}, []byte("[]"))
		r.count(func(s *Stats) { s.Denylisted++ })
		r.setPendingStats()
		return nil
	}
	msg := "Executing distributed query: " + clip(q.id, 256) + ": " + clip(q.sql, 4096)
	if r.o.Flags.Bool("distributed_loginfo") {
		r.o.Log.Info(msg)
	} else {
		r.o.Log.Debug(msg)
	}

	enc := rowEncoder{null: r.o.Flags.Get("nullvalue")}
	p := r.pending
	seg := p.begin(q.id)
	opened, n := false, 0
	u0 := r.usage()
	t0 := time.Now()
	err = r.o.DB.Stream(remote.WithRequestID(ctx, q.id), q.sql, func(cols []string) error {
		// Like Query, the last statement's rows are the result.
		p.buf = append(p.buf[:seg.rows], '[')
		opened, n = true, 0
		enc.setColumns(cols)
		return nil
	}, func(vals []sqlengine.Value) error {
		if n > 0 {
			p.buf = append(p.buf, ',')
		}
		p.buf = enc.appendRow(p.buf, vals)
		n++
		return nil
	})
	wall := time.Since(t0)
	u1 := r.usage()

	if ctx.Err() != nil {
		// Shutdown, not the query's fault: it stays queued and runs at
		// the next start.
		p.abort(seg)
		if marked {
			r.clearRunning(ctx, key)
		}
		return ctx.Err()
	}
	res := &result{id: q.id, perf: u1.since(u0, wall)}
	if err != nil {
		// osquery: status 1 and SQLite's message, no rows.
		res.status, res.message = 1, errorText(err)
		p.buf = append(p.buf[:seg.rows], "[]"...)
		r.o.Log.Error("Error executing distributed query: " + clip(q.id, 256) + ": " + clip(res.message, 4096))
	} else if !opened {
		p.buf = append(p.buf[:seg.rows], "[]"...)
	} else {
		p.buf = append(p.buf, ']')
	}
	p.commit(seg, res)
	if marked {
		r.clearRunning(ctx, key)
	}
	r.count(func(s *Stats) {
		s.Executed++
		if err != nil {
			s.Errors++
		}
	})
	r.setPendingStats()
	return nil
}

// clearRunning removes a running marker once its query is over. It
// outlives a shutdown that begins meanwhile, so a query that completed is
// never taken for one that killed its worker.
func (r *Runner) clearRunning(ctx context.Context, key string) {
	if err := r.o.Store.Delete(context.WithoutCancel(ctx), store.DomainDistributedRunning, key); err != nil {
		r.o.Log.Error("Failed to delete running distributed query with hash: " + key + ": " + err.Error())
		r.fail(err)
	}
}

func errorText(err error) string {
	var se *sqlengine.Error
	if errors.As(err, &se) {
		return se.Msg
	}
	return err.Error()
}

// cleanupExpired forgets running markers past the denylist duration, as
// osquery's cleanupExpiredRunningQueries after every iteration.
func (r *Runner) cleanupExpired(ctx context.Context) error {
	now := r.o.Now()
	var old []string
	err := r.o.Store.Scan(ctx, store.DomainDistributedRunning, "", func(key string, v []byte) error {
		if r.expired(v, now) {
			old = append(old, key)
		}
		return nil
	})
	if err == nil && len(old) > 0 {
		err = r.o.Store.Update(ctx, func(tx *store.Tx) error {
			for _, k := range old {
				if err := tx.Delete(store.DomainDistributedRunning, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil && ctx.Err() == nil {
		r.o.Log.Warn("Cannot clean up expired running distributed queries: " + err.Error())
		return fmt.Errorf("clean up running distributed queries: %w", err)
	}
	return nil
}

// usage is the process's CPU time and resident memory, read as osquery
// reads them for a distributed query (the processes table's user_time,
// system_time and resident_size of its own pid).
type usage struct {
	user, system time.Duration
	rss          int64
}

func (r *Runner) usage() usage {
	var u usage
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.user = time.Duration(ru.Utime.Nano())
		u.system = time.Duration(ru.Stime.Nano())
	}
	root := "/proc"
	if env := r.o.DB.Env(); env != nil && env.ProcRoot != "" {
		root = env.ProcRoot
	}
	if st, err := procfs.New(root).Status(os.Getpid()); err == nil {
		u.rss = st.VmRSS
	}
	return u
}

// since is the cost between u0 and u: differences that are not positive
// are 0, as osquery records them.
func (u usage) since(u0 usage, wall time.Duration) *perf {
	pos := func(d time.Duration) uint64 {
		if d > 0 {
			return uint64(d.Milliseconds())
		}
		return 0
	}
	p := &perf{wallMS: pos(wall), userMS: pos(u.user - u0.user), systemMS: pos(u.system - u0.system)}
	if d := u.rss - u0.rss; d > 0 {
		p.memory = uint64(d)
	}
	return p
}
