package logger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/version"
)

func init() {
	Register("tls", func(c Config) (Plugin, error) {
		p, err := NewTLS(c)
		if err != nil {
			return nil, err
		}
		return p, nil
	})
}

// Limits of the tls plugin that osquery does not have.
const (
	// DefaultTLSSentMemory is how many hashes of accepted result lines
	// the plugin keeps to recognise a replayed line (Holds).
	DefaultTLSSentMemory = 100000
	// tlsMaxBatchBytes bounds the uncompressed lines of one request;
	// osquery has no bound, so 1024 lines of up to 1 MiB each could make
	// one 1 GiB body. At least one line is always sent.
	tlsMaxBatchBytes = 32 << 20
	// tlsPurgeChunk is how many purged lines go per transaction.
	tlsPurgeChunk = 4096
)

// TLS is osquery's tls logger plugin (plugins/logger/tls_logger.cpp on
// buffered.cpp). Result, snapshot and status lines are first written to the
// store (domain logs), durably before the Log call returns; a forwarder
// goroutine sends them to --logger_tls_endpoint every --logger_tls_period
// seconds, results and statuses in separate requests of at most
// --logger_tls_max_lines lines, and deletes exactly what the server
// accepted. Every flag is read when it is used, so config options apply at
// run time.
//
// Differences from osquery, each deliberate:
//   - keys are zero-padded so that the buffer is sent in arrival order;
//     their counter continues across restarts (osquery's restarts at 0);
//   - no node key is fetched at setup: osquery fails activation when it
//     cannot enroll, and status logs stay local; here lines are kept in
//     the buffer until enrollment works;
//   - an HTTP status outside 2xx is a failure (see remote.Client.Post);
//   - an oversized or invalid line is deleted when it is found, not kept
//     until its batch is accepted; --logger_tls_max_linesize=0 means no
//     limit and --logger_tls_max_lines=0 means 1024, where osquery would
//     drop or send nothing;
//   - a request carries at most 32 MiB of lines;
//   - hashes of recently sent result lines are kept so a replay after a
//     crash is not sent twice (Holds, ReplayFilter).
type TLS struct {
	remote *remote.Client
	st     *store.DB
	fl     *flags.Set
	log    *slog.Logger
	now    func() time.Time
	env    func() StatusEnvelope

	sentMax int

	// mu orders every change of the buffer with the bookkeeping written
	// in the same transaction. Nothing is logged while it is held: a
	// status sink may call LogStatus synchronously.
	mu     sync.Mutex
	closed bool
	meta   tlsMeta
	sent   sentRing
	stats  TLSStats

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// TLSStats are the tls plugin's counters since it started, for a table,
// the status log or the daemon.
type TLSStats struct {
	// BufferedResults and BufferedStatuses are the lines waiting in the
	// store (results include snapshots).
	BufferedResults, BufferedStatuses int64
	// SentResults and SentStatuses are lines the server accepted;
	// Requests the accepted requests.
	SentResults, SentStatuses, Requests int64
	// DroppedSize are lines longer than --logger_tls_max_linesize,
	// DroppedInvalid lines that are not a JSON object, DroppedPurged the
	// oldest lines removed to honour --buffered_log_max,
	// DroppedStatusDisabled statuses not buffered because of
	// --tls_disable_status_log.
	DroppedSize, DroppedInvalid, DroppedPurged, DroppedStatusDisabled int64
	// Failures counts failed sends; ConsecutiveFailures is the current
	// run of failures by log type (result, status), which sets the
	// backoff.
	Failures            int64
	ConsecutiveFailures [2]int64
	// LastError and LastErrorTime describe the latest failure (a send or
	// a store error); LastSuccess is the time of the latest accepted
	// request.
	LastError     string
	LastErrorTime time.Time
	LastSuccess   time.Time
}

// NewTLS opens the tls plugin on cfg.Store and cfg.Remote and starts its
// forwarder; Close stops it. Lines left in the store by an earlier run are
// sent first.
func NewTLS(cfg Config) (*TLS, error) { return newTLS(cfg, DefaultTLSSentMemory) }

func newTLS(cfg Config, sentMax int) (*TLS, error) {
	if cfg.Remote == nil {
		return nil, errors.New("the tls logger needs the TLS remote client (--tls_hostname)")
	}
	if cfg.Store == nil {
		return nil, errors.New("the tls logger needs the database (--database_path) to buffer logs")
	}
	cfg = cfg.withDefaults()
	p := &TLS{
		remote:  cfg.Remote,
		st:      cfg.Store,
		fl:      cfg.Remote.Flags(),
		log:     cfg.Remote.Log(),
		now:     cfg.Now,
		env:     cfg.StatusEnvelope,
		sentMax: sentMax,
		sent:    newSentRing(),
		done:    make(chan struct{}),
	}
	if p.env == nil {
		host := cfg.Hostname
		p.env = func() StatusEnvelope { return StatusEnvelope{HostIdentifier: host, Version: version.Osquery} }
	}
	ctx := context.Background()
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	if p.fl.Get("tls_hostname") == "" || p.fl.Get("logger_tls_endpoint") == "" {
		p.log.Warn("tls logger: --tls_hostname or --logger_tls_endpoint is empty; logs are buffered until both are set")
	}
	ctx, p.cancel = context.WithCancel(ctx)
	go p.run(ctx)
	return p, nil
}

// load reads the bookkeeping and the sent hashes. Without bookkeeping (or
// with unreadable bookkeeping) the buffer is counted from its keys.
func (p *TLS) load(ctx context.Context) error {
	err := p.st.Scan(ctx, store.DomainLogs, tlsSentPrefix, func(key string, v []byte) error {
		if n, err := strconv.ParseUint(key[len(tlsSentPrefix):], 10, 64); err == nil {
			p.sent.push(sentBatch{n: n, hashes: decodeHashes(v)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read tls logger state: %w", err)
	}
	raw, ok, err := p.st.Get(ctx, store.DomainLogs, tlsMetaKey)
	if err != nil {
		return fmt.Errorf("read tls logger state: %w", err)
	}
	if ok {
		if p.meta, err = decodeTLSMeta(raw); err == nil {
			return nil
		}
		p.log.Warn("tls logger: " + err.Error() + "; counting the buffer again")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recountLocked(ctx)
}

// recountLocked rebuilds the bookkeeping from the buffer's keys.
func (p *TLS) recountLocked(ctx context.Context) error {
	m := tlsMeta{seq: p.meta.seq, lastTime: p.meta.lastTime}
	for kind, prefix := range tlsPrefixes {
		err := p.st.Scan(ctx, store.DomainLogs, prefix, func(key string, _ []byte) error {
			m.count[kind]++
			if t, n, ok := parseTLSKey(key); ok {
				m.seq, m.lastTime = max(m.seq, n), max(m.lastTime, t)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("count buffered tls logs: %w", err)
		}
	}
	if err := p.st.Put(ctx, store.DomainLogs, tlsMetaKey, m.encode()); err != nil {
		return fmt.Errorf("store tls logger state: %w", err)
	}
	p.meta = m
	return nil
}

// Name implements Plugin.
func (p *TLS) Name() string { return "tls" }

// LogResult implements Plugin: the line is in the store when it returns.
func (p *TLS) LogResult(ctx context.Context, line []byte) error {
	return p.append(ctx, kindResult, [][]byte{line})
}

// LogResults buffers several result lines in one transaction: a caller
// that has a whole run's lines (the scheduler) pays one commit instead of
// one per line, the dominant cost of LogResult.
func (p *TLS) LogResults(ctx context.Context, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	return p.append(ctx, kindResult, lines)
}

// LogSnapshot implements Plugin; snapshots are result lines to tls.
func (p *TLS) LogSnapshot(ctx context.Context, line []byte) error {
	return p.append(ctx, kindResult, [][]byte{line})
}

// LogStatus implements Plugin: the statuses are buffered as the JSON
// objects of §3.5, in one transaction, unless --tls_disable_status_log.
func (p *TLS) LogStatus(ctx context.Context, statuses []logging.Status) error {
	if len(statuses) == 0 {
		return nil
	}
	if p.fl.Bool("tls_disable_status_log") {
		p.mu.Lock()
		p.stats.DroppedStatusDisabled += int64(len(statuses))
		p.mu.Unlock()
		return nil
	}
	env := p.env()
	lines := make([][]byte, len(statuses))
	for i, s := range statuses {
		lines[i] = AppendStatusJSON(nil, s, &env)
	}
	return p.append(ctx, kindStatus, lines)
}

// append buffers lines with the next keys and the bookkeeping in one
// transaction.
func (p *TLS) append(ctx context.Context, kind int, lines [][]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	m := p.meta
	m.lastTime = max(m.lastTime, p.now().Unix())
	err := p.st.Update(ctx, func(tx *store.Tx) error {
		for _, l := range lines {
			m.seq++
			if err := tx.Put(store.DomainLogs, tlsKey(kind, m.lastTime, m.seq), l); err != nil {
				return err
			}
		}
		m.count[kind] += int64(len(lines))
		return tx.Put(store.DomainLogs, tlsMetaKey, m.encode())
	})
	if err != nil {
		return fmt.Errorf("buffer tls %s log: %w", tlsLogTypes[kind], err)
	}
	p.meta = m
	return nil
}

// remove deletes buffered keys in one transaction; hashes, when given, are
// the accepted result lines to remember.
func (p *TLS) remove(ctx context.Context, keys [2][]string, hashes []uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.meta
	var batch sentBatch
	evict := 0
	if len(hashes) > 0 && p.sentMax > 0 {
		batch = sentBatch{n: p.sent.next, hashes: hashes}
		evict = p.sent.evictions(len(hashes), p.sentMax)
	}
	err := p.st.Update(ctx, func(tx *store.Tx) error {
		for kind, ks := range keys {
			for _, k := range ks {
				if err := tx.Delete(store.DomainLogs, k); err != nil {
					return err
				}
			}
			m.count[kind] = max(m.count[kind]-int64(len(ks)), 0)
		}
		if batch.hashes != nil {
			if err := tx.Put(store.DomainLogs, sentKey(batch.n), encodeHashes(batch.hashes)); err != nil {
				return err
			}
			for _, old := range p.sent.batches[:evict] {
				if err := tx.Delete(store.DomainLogs, sentKey(old.n)); err != nil {
					return err
				}
			}
		}
		return tx.Put(store.DomainLogs, tlsMetaKey, m.encode())
	})
	if err != nil {
		return fmt.Errorf("remove sent tls logs from the buffer: %w", err)
	}
	p.meta = m
	if batch.hashes != nil {
		p.sent.dropOldest(evict)
		p.sent.push(batch)
	}
	return nil
}

// Close implements Plugin: the forwarder stops (a request in flight is
// abandoned and its lines stay buffered) and further calls fail.
func (p *TLS) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cancel()
		<-p.done
	})
	return nil
}

// Stats returns the counters now.
func (p *TLS) Stats() TLSStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.BufferedResults, s.BufferedStatuses = p.meta.count[kindResult], p.meta.count[kindStatus]
	return s
}

func (p *TLS) failed(err error, kind int) {
	p.mu.Lock()
	p.stats.LastError, p.stats.LastErrorTime = err.Error(), p.now()
	if kind >= 0 {
		p.stats.Failures++
		p.stats.ConsecutiveFailures[kind]++
	}
	p.mu.Unlock()
}

// Holds reports whether line is a result line in the buffer or one of the
// last DefaultTLSSentMemory result lines the server accepted: a line the
// scheduler replays after a crash (schedule.ReplayPending's written
// callback) that Holds recognises was already shipped or will be. It scans
// the buffer, so it is meant for a few lines; ReplayFilter serves a whole
// replay with one scan.
//
// What stays uncovered: a request the server accepted just before a crash,
// whose lines were not yet deleted, is sent again after the restart (the
// server sees them twice, as with osquery); a line that left the sent
// memory (more than DefaultTLSSentMemory lines sent since it was buffered)
// is not recognised; a line logged twice with the same bytes (identical
// rows of one run) counts as one.
func (p *TLS) Holds(line []byte) bool {
	h := lineHash(line)
	p.mu.Lock()
	sent := p.sent.has(h)
	p.mu.Unlock()
	if sent {
		return true
	}
	found := false
	p.st.Scan(context.Background(), store.DomainLogs, tlsResultPrefix, func(_ string, v []byte) error {
		if bytes.Equal(v, line) {
			found = true
			return store.ErrStopScan
		}
		return nil
	})
	if found {
		return true
	}
	// The forwarder may have sent the line while the scan ran; its delete
	// and the hashes are one transaction, recorded here under mu.
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.has(h)
}

// ReplayFilter returns the written callback for schedule.ReplayPending:
// it answers from the buffer's result lines and the sent memory as they
// are now, and each line it recognises is used up, so a pending run that
// logged two identical lines of which only the first was buffered before
// the crash replays the second. It has Holds' remaining windows except
// the last.
func (p *TLS) ReplayFilter(ctx context.Context) (func(line []byte) bool, error) {
	counts := map[uint64]int32{}
	// Holding mu keeps the forwarder from moving a line from the buffer
	// to the sent memory during the scan (it would be counted twice or
	// not at all).
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.st.Scan(ctx, store.DomainLogs, tlsResultPrefix, func(_ string, v []byte) error {
		counts[lineHash(v)]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read buffered tls logs: %w", err)
	}
	for h, n := range p.sent.counts {
		counts[h] += n
	}
	var mu sync.Mutex
	return func(line []byte) bool {
		h := lineHash(line)
		mu.Lock()
		defer mu.Unlock()
		if counts[h] > 0 {
			counts[h]--
			return true
		}
		return false
	}, nil
}

// FindTLS returns the tls plugin in p (itself or one of a Multi's), or
// nil.
func FindTLS(p Plugin) *TLS {
	switch x := p.(type) {
	case *TLS:
		return x
	case *Multi:
		for _, q := range x.Plugins() {
			if t := FindTLS(q); t != nil {
				return t
			}
		}
	}
	return nil
}

// The forwarder.

func (p *TLS) period() time.Duration {
	return time.Duration(max(p.fl.Int("logger_tls_period"), 1)) * time.Second
}

// tlsBackoff is how long a log type waits after its n-th consecutive
// failure: period × n², capped at max (0 disables backoff: the next
// period).
func tlsBackoff(period time.Duration, n int64, maxWait time.Duration) time.Duration {
	if maxWait <= 0 || n <= 0 {
		return period
	}
	hi, lo := bits.Mul64(uint64(n), uint64(n))
	if hi != 0 || lo > uint64(maxWait/period)+1 {
		return maxWait
	}
	return min(period*time.Duration(lo), maxWait)
}

// run is the forwarder: each period it purges beyond --buffered_log_max,
// then sends one batch of each log type whose backoff has run out. The
// waits go through the remote client's Sleep, so tests drive the clock.
func (p *TLS) run(ctx context.Context) {
	defer close(p.done)
	var wait [2]time.Duration
	for {
		period := p.period()
		if p.remote.Sleep(ctx, period) != nil {
			return
		}
		p.purge(ctx)
		for kind := range tlsPrefixes {
			if wait[kind] -= period; wait[kind] > 0 {
				continue
			}
			wait[kind] = 0
			err := p.forward(ctx, kind)
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			n := p.stats.ConsecutiveFailures[kind]
			if err == nil {
				p.stats.ConsecutiveFailures[kind] = 0
			}
			p.mu.Unlock()
			if err == nil {
				if n > 0 {
					p.log.Info(fmt.Sprintf("tls logger: %s logs sent again after %d failed attempts", tlsLogTypes[kind], n))
				}
				continue
			}
			p.failed(err, kind)
			n++
			wait[kind] = tlsBackoff(period, n, time.Duration(p.fl.Int("logger_tls_backoff_max"))*time.Second)
			// A warning per failure would fill the status buffer during
			// an outage: the first, then at 2, 4, 8... failures.
			if n&(n-1) == 0 {
				p.log.Warn(fmt.Sprintf("tls logger: cannot send %s logs (%d failed attempts, next in %v): %v",
					tlsLogTypes[kind], n, wait[kind], err))
			}
		}
	}
}

// forward sends one batch of a log type and deletes it when accepted.
func (p *TLS) forward(ctx context.Context, kind int) error {
	maxLines := p.fl.Int("logger_tls_max_lines")
	if maxLines <= 0 {
		maxLines = 1024
	}
	maxSize := p.fl.Int("logger_tls_max_linesize")
	var (
		keys, drop      []string
		data            = []byte{'['}
		hashes          []uint64 // of the result lines sent, for the sent memory
		size            int
		scanned         int64
		tooBig, invalid int
		biggest         int
	)
	err := p.st.Scan(ctx, store.DomainLogs, tlsPrefixes[kind], func(key string, v []byte) error {
		switch {
		case maxSize > 0 && int64(len(v)) > maxSize:
			drop, tooBig, biggest = append(drop, key), tooBig+1, max(biggest, len(v))
		case !isJSONObject(v):
			drop, invalid = append(drop, key), invalid+1
		default:
			if len(keys) > 0 && size+len(v) > tlsMaxBatchBytes {
				return store.ErrStopScan
			}
			// Lines were checked by isJSONObject, so the array is built
			// here and sent as it is, not validated again by encoding/json.
			if len(keys) > 0 {
				data = append(data, ',')
			}
			keys, data, size = append(keys, key), append(data, v...), size+len(v)
			if kind == kindResult {
				hashes = append(hashes, lineHash(v))
			}
		}
		if scanned++; scanned >= maxLines {
			return store.ErrStopScan
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read buffered tls logs: %w", err)
	}
	if len(drop) > 0 {
		var del [2][]string
		del[kind] = drop
		if err := p.remove(context.WithoutCancel(ctx), del, nil); err != nil {
			return err
		}
		p.mu.Lock()
		p.stats.DroppedSize += int64(tooBig)
		p.stats.DroppedInvalid += int64(invalid)
		p.mu.Unlock()
		if tooBig > 0 {
			p.log.Warn(fmt.Sprintf("tls logger: dropped %d %s lines larger than --logger_tls_max_linesize (%d bytes; largest %d)",
				tooBig, tlsLogTypes[kind], maxSize, biggest))
		}
		if invalid > 0 {
			p.log.Warn(fmt.Sprintf("tls logger: dropped %d %s lines that are not a JSON object", invalid, tlsLogTypes[kind]))
		}
	}
	if len(keys) == 0 {
		if scanned == 0 {
			p.checkEmpty(ctx, kind)
		}
		return nil
	}
	_, err = p.remote.Post(ctx, remote.Request{
		Path:     p.fl.Get("logger_tls_endpoint"),
		Body:     map[string]any{"log_type": tlsLogTypes[kind], "data": json.RawMessage(append(data, ']'))},
		Compress: p.fl.Bool("logger_tls_compress"),
	})
	if err != nil {
		return err
	}
	var del [2][]string
	del[kind] = keys
	// The server has the lines: deleting them must not be cancelled by a
	// shutdown, or they would be sent again.
	if err := p.remove(context.WithoutCancel(ctx), del, hashes); err != nil {
		p.log.Error("tls logger: " + err.Error() + "; they will be sent again")
		return err
	}
	p.mu.Lock()
	p.stats.Requests++
	p.stats.LastSuccess = p.now()
	if kind == kindResult {
		p.stats.SentResults += int64(len(keys))
	} else {
		p.stats.SentStatuses += int64(len(keys))
	}
	p.mu.Unlock()
	return nil
}

// checkEmpty repairs the bookkeeping when it counts lines of a kind the
// buffer does not have (keys removed behind the plugin's back).
func (p *TLS) checkEmpty(ctx context.Context, kind int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta.count[kind] == 0 {
		return
	}
	if err := p.recountLocked(ctx); err != nil {
		p.stats.LastError, p.stats.LastErrorTime = err.Error(), p.now()
	}
}

// isJSONObject is what the server can take as one data item.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// purge removes the oldest lines (of either kind) beyond
// --buffered_log_max, with osquery's warning.
func (p *TLS) purge(ctx context.Context) {
	limit := p.fl.Int("buffered_log_max")
	if limit <= 0 {
		return
	}
	p.mu.Lock()
	total := p.meta.count[kindResult] + p.meta.count[kindStatus]
	p.mu.Unlock()
	if total <= limit {
		return
	}
	excess, purged := total-limit, int64(0)
	var err error
	for purged < excess && err == nil {
		var oldest []string
		oldest, err = p.oldest(ctx, int(min(excess-purged, tlsPurgeChunk)))
		if err != nil || len(oldest) == 0 {
			break
		}
		var del [2][]string
		for _, k := range oldest {
			kind := kindResult
			if k[:len(tlsStatusPrefix)] == tlsStatusPrefix {
				kind = kindStatus
			}
			del[kind] = append(del[kind], k)
		}
		if err = p.remove(ctx, del, nil); err == nil {
			purged += int64(len(oldest))
		}
	}
	if err != nil {
		p.failed(fmt.Errorf("purge tls logs: %w", err), -1)
	}
	if purged < excess && err == nil {
		p.checkEmpty(ctx, kindResult)
		p.checkEmpty(ctx, kindStatus)
	}
	p.mu.Lock()
	p.stats.DroppedPurged += purged
	p.mu.Unlock()
	if purged > 0 {
		p.log.Warn(fmt.Sprintf("tls: Database buffer size %d exceeds maximum %d, purged %d oldest log entries", total, limit, purged))
	}
}

// oldest returns the n oldest buffered keys of both kinds, oldest first.
func (p *TLS) oldest(ctx context.Context, n int) ([]string, error) {
	var all []string
	for _, prefix := range tlsPrefixes {
		got := 0
		err := p.st.Scan(ctx, store.DomainLogs, prefix, func(key string, _ []byte) error {
			all = append(all, key)
			if got++; got >= n {
				return store.ErrStopScan
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(all, func(i, j int) bool { return keyOrder(all[i]) < keyOrder(all[j]) })
	return all[:min(n, len(all))], nil
}
