package distributed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
)

// work is a read answer that passed the checks.
type work struct {
	// queries and discovery, sorted by id.
	queries   []query
	discovery []query
	// accelerate is the "accelerate" seconds, when it is a JSON integer.
	accelerate    int64
	hasAccelerate bool
	// warnings are problems that did not reject the answer.
	warnings []string
}

type query struct{ id, sql string }

// ErrRejected marks a read answer refused as a whole.
var ErrRejected = errors.New("distributed read answer rejected")

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// parseWork checks a read answer as osquery's acceptWork does, without
// trusting it: "queries" and "discovery", when present and not null, must
// be objects whose every id and SQL is a non-empty string, or the whole
// answer is rejected (nothing is queued). "accelerate" must be a JSON
// integer (a 32-bit one, as RapidJSON's IsInt); anything else is ignored
// with a warning and the queries are still taken.
func parseWork(ans map[string]json.RawMessage) (*work, error) {
	w := &work{}
	var err error
	if w.discovery, err = stringMap(ans, "discovery", "discovery query"); err != nil {
		return nil, err
	}
	if w.queries, err = stringMap(ans, "queries", "query"); err != nil {
		return nil, err
	}
	if raw, ok := ans["accelerate"]; ok && !isNull(raw) {
		n, err := jsonInt32(raw)
		if err != nil {
			w.warnings = append(w.warnings, "Failed to accelerate distributed query checkins: timeframe is not an integer: "+truncate(string(raw)))
		} else {
			w.accelerate, w.hasAccelerate = n, true
		}
	}
	return w, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// stringMap reads ans[key] as an object of non-empty strings, sorted by
// id. Absent or null is no entries.
func stringMap(ans map[string]json.RawMessage, key, what string) ([]query, error) {
	raw, ok := ans[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, rejected("%q is not an object of id to SQL strings", key)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, rejected("%q: %v", key, err)
	}
	out := make([]query, 0, len(obj))
	for id, v := range obj {
		var sql string
		if err := json.Unmarshal(v, &sql); err != nil {
			return nil, rejected("distributed %s %s is not a string", what, truncate(id))
		}
		if id == "" || sql == "" {
			return nil, rejected("distributed %s %s does not have complete attributes", what, truncate(id))
		}
		out = append(out, query{id, sql})
	}
	slices.SortFunc(out, func(a, b query) int { return strings.Compare(a.id, b.id) })
	return out, nil
}

// jsonInt32 accepts only an integer token (no fraction, no exponent)
// within int32, as RapidJSON's IsInt.
func jsonInt32(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || strings.ContainsAny(s, ".eE+") {
		return 0, errors.New("not an integer")
	}
	return strconv.ParseInt(s, 10, 32)
}

// read asks the server for queries and queues those that pass discovery.
func (r *Runner) read(ctx context.Context) error {
	fl := r.o.Flags
	var ans map[string]json.RawMessage
	err := r.o.Client.Retry(ctx, fl.Int("distributed_tls_max_attempts"), func() error {
		var err error
		ans, err = r.o.Client.Post(ctx, remote.Request{Path: fl.Get("distributed_tls_read_endpoint")})
		return err
	})
	if err != nil {
		r.count(func(s *Stats) { s.ReadFailures++ })
		if ctx.Err() == nil {
			r.o.Log.Warn("Distributed read from " + fl.Get("tls_hostname") + fl.Get("distributed_tls_read_endpoint") + " failed: " + err.Error())
		}
		return fmt.Errorf("distributed read: %w", err)
	}
	r.count(func(s *Stats) { s.Reads++ })
	w, err := parseWork(ans)
	if err == nil {
		err = r.accept(ctx, w)
	}
	if err != nil {
		if errors.Is(err, ErrRejected) {
			r.count(func(s *Stats) { s.Rejected++ })
			r.o.Log.Warn("Distributed read: " + err.Error())
		}
		return err
	}
	return nil
}

// errFound stops a discovery query at its first row.
var errFound = errors.New("found")

// discover reports whether sql returns at least one row.
func (r *Runner) discover(ctx context.Context, id, sql string) (bool, error) {
	found := false
	err := r.o.DB.Stream(remote.WithRequestID(ctx, id), sql, func([]string) error { return nil }, func([]sqlengine.Value) error {
		found = true
		return errFound
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	return found, err
}

// accept runs the discovery queries, then queues in one transaction the
// queries that passed, and stores the acceleration.
func (r *Runner) accept(ctx context.Context, w *work) error {
	for _, m := range w.warnings {
		r.o.Log.Warn(m)
	}
	passed := map[string]bool{}
	for _, d := range w.discovery {
		ok, err := r.discover(ctx, d.id, d.sql)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// osquery: one discovery error rejects the whole answer.
			return rejected("distributed discovery query %s has an SQL error: %v", truncate(d.id), err)
		}
		passed[d.id] = ok
	}
	var queue []query
	skipped := 0
	for _, q := range w.queries {
		if ok, has := passed[q.id]; has && !ok {
			skipped++
			continue
		}
		if r.pending.has(q.id) {
			// The server asks again for a result it has not received:
			// the pending one answers it at the next write.
			r.o.Log.Debug("Distributed query " + truncate(q.id) + " already has a result waiting to be written")
			continue
		}
		queue = append(queue, q)
	}
	var until time.Time
	if w.hasAccelerate {
		until = r.o.Now().Add(time.Duration(w.accelerate) * time.Second)
		r.o.Log.Info(fmt.Sprintf("Accelerating distributed query checkins for %d seconds", w.accelerate))
	}
	if len(queue) > 0 || w.hasAccelerate {
		err := r.o.Store.Update(ctx, func(tx *store.Tx) error {
			for _, q := range queue {
				if err := tx.Put(store.DomainDistributed, q.id, []byte(q.sql)); err != nil {
					return err
				}
			}
			if w.hasAccelerate {
				return tx.Put(store.DomainConfigurations, AccelerateKey, []byte(strconv.FormatInt(until.Unix(), 10)))
			}
			return nil
		})
		if err != nil {
			r.o.Log.Error("Cannot queue distributed queries: " + err.Error())
			return fmt.Errorf("queue distributed queries: %w", err)
		}
	}
	r.count(func(s *Stats) {
		s.QueriesRead += int64(len(queue))
		s.DiscoverySkipped += int64(skipped)
		if w.hasAccelerate {
			s.AcceleratedUntil = until
		}
	})
	return nil
}
