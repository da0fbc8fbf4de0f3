package distributed

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gosquery/gosquery/internal/jsonw"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/store"
)

// result is one query's answer waiting to be written.
type result struct {
	id      string
	status  int64
	message string
	// perf is nil for a denylisted query (osquery sends "stats": {}).
	perf *perf
	// rows is where the query's rows array sits in pendingResults.buf.
	rowsAt, rowsEnd int
	// stored is set once the result is in the store (after a failed
	// write); until then its query stays queued, so a worker that dies
	// before the write runs it again rather than losing it.
	stored bool
}

// perf is a query's cost, osquery's QueryPerformance as the write sends
// it: milliseconds of wall, user and system time, and bytes of resident
// memory the process grew by.
type perf struct {
	wallMS, userMS, systemMS, memory uint64
}

// pendingResults holds the results not yet written in the shape the write
// sends: buf is the "queries" object under construction,
// `{"id1":[{...},...],"id2":[...],` with a comma after every entry, which
// the write turns into the closing brace for the time of the request. The
// rows are encoded once, straight from the engine into buf, and buf is
// what goes to the server: no other copy of a large result is made here.
type pendingResults struct {
	buf     []byte
	results []*result
	ids     map[string]bool
}

func newPending() *pendingResults {
	return &pendingResults{buf: []byte{'{'}, ids: map[string]bool{}}
}

func (p *pendingResults) count() int         { return len(p.results) }
func (p *pendingResults) has(id string) bool { return p.ids[id] }

func (p *pendingResults) rowBytes() int {
	n := 0
	for _, r := range p.results {
		n += r.rowsEnd - r.rowsAt
	}
	return n
}

// segment is an entry being appended to buf.
type segment struct{ start, rows int }

// begin starts the entry of id: its key, then the rows go at seg.rows.
func (p *pendingResults) begin(id string) segment {
	s := segment{start: len(p.buf)}
	p.buf = jsonw.AppendString(p.buf, id)
	p.buf = append(p.buf, ':')
	s.rows = len(p.buf)
	return s
}

// abort drops an entry begun and not committed.
func (p *pendingResults) abort(s segment) { p.buf = p.buf[:s.start] }

// commit ends the entry whose rows array is buf[s.rows:] and records it.
func (p *pendingResults) commit(s segment, r *result) *result {
	r.rowsAt, r.rowsEnd = s.rows, len(p.buf)
	p.buf = append(p.buf, ',')
	p.results = append(p.results, r)
	p.ids[r.id] = true
	return r
}

// add records a result with the rows array given (denylisted, loaded).
func (p *pendingResults) add(r *result, rows []byte) *result {
	s := p.begin(r.id)
	p.buf = append(p.buf, rows...)
	return p.commit(s, r)
}

func (p *pendingResults) rows(r *result) []byte { return p.buf[r.rowsAt:r.rowsEnd] }

// clear forgets everything after a successful write; a large buffer is
// let go rather than kept for the next, usually small, result.
func (p *pendingResults) clear() {
	if cap(p.buf) > 1<<20 {
		p.buf = make([]byte, 0, 4096)
	}
	p.buf = append(p.buf[:0], '{')
	p.results = nil
	p.ids = map[string]bool{}
}

// writeBody is the write request: "queries" is buf itself, closed for the
// request; call done after the request to reopen it.
func (p *pendingResults) writeBody() (body map[string]any, done func()) {
	last := len(p.buf) - 1
	if len(p.results) == 0 {
		p.buf = append(p.buf, '}')
		last = -1
	} else {
		p.buf[last] = '}'
	}
	var statuses, messages, stats []byte
	statuses, messages, stats = append(statuses, '{'), append(messages, '{'), append(stats, '{')
	for i, r := range p.results {
		first := i == 0
		statuses = jsonw.AppendKey(statuses, r.id, first)
		statuses = strconv.AppendInt(statuses, r.status, 10)
		messages = jsonw.AppendKey(messages, r.id, first)
		messages = jsonw.AppendString(messages, r.message)
		stats = jsonw.AppendKey(stats, r.id, first)
		stats = append(stats, '{')
		if r.perf != nil {
			stats = append(stats, `"wall_time_ms":`...)
			stats = strconv.AppendUint(stats, r.perf.wallMS, 10)
			stats = append(stats, `,"user_time":`...)
			stats = strconv.AppendUint(stats, r.perf.userMS, 10)
			stats = append(stats, `,"system_time":`...)
			stats = strconv.AppendUint(stats, r.perf.systemMS, 10)
			stats = append(stats, `,"memory":`...)
			stats = strconv.AppendUint(stats, r.perf.memory, 10)
		}
		stats = append(stats, '}')
	}
	body = map[string]any{
		"queries":  json.RawMessage(p.buf),
		"statuses": json.RawMessage(append(statuses, '}')),
		"messages": json.RawMessage(append(messages, '}')),
		"stats":    json.RawMessage(append(stats, '}')),
	}
	return body, func() {
		if last < 0 {
			p.buf = p.buf[:len(p.buf)-1]
		} else {
			p.buf[last] = ','
		}
	}
}

// Results not yet written are kept in the distributed domain next to the
// queue, under keys that start with 0xFF: ids come from JSON and are valid
// UTF-8, which never holds that byte, so no id collides with them, and
// they sort after every queued id. Each result is a meta entry and its
// rows in chunks of at most resultChunk bytes, so a large result never
// needs one huge value in the store.
const (
	resultPrefix = "\xffresult."
	resultChunk  = 1 << 20
	resultFormat = 1
)

func resultBase(id string) string      { return resultPrefix + id + "\xff" }
func metaKey(id string) string         { return resultBase(id) + "m" }
func chunkKey(id string, i int) string { return resultBase(id) + fmt.Sprintf("d%06d", i) }

func encodeMeta(r *result, chunks, size int) []byte {
	b := []byte{resultFormat}
	b = binary.AppendVarint(b, r.status)
	b = binary.AppendUvarint(b, uint64(len(r.message)))
	b = append(b, r.message...)
	if r.perf == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		for _, v := range []uint64{r.perf.wallMS, r.perf.userMS, r.perf.systemMS, r.perf.memory} {
			b = binary.AppendUvarint(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(chunks))
	return binary.AppendUvarint(b, uint64(size))
}

var errCorrupt = errors.New("corrupt stored distributed result")

func decodeMeta(id string, b []byte) (r *result, chunks, size int, err error) {
	if len(b) < 1 || b[0] != resultFormat {
		return nil, 0, 0, errCorrupt
	}
	b = b[1:]
	r = &result{id: id}
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errCorrupt
			return 0
		}
		b = b[n:]
		return v
	}
	st, n := binary.Varint(b)
	if n <= 0 {
		return nil, 0, 0, errCorrupt
	}
	b = b[n:]
	r.status = st
	ml := next()
	if err != nil || ml > uint64(len(b)) {
		return nil, 0, 0, errCorrupt
	}
	r.message, b = string(b[:ml]), b[ml:]
	if len(b) == 0 {
		return nil, 0, 0, errCorrupt
	}
	hasPerf := b[0] == 1
	b = b[1:]
	if hasPerf {
		r.perf = &perf{next(), next(), next(), next()}
	}
	c, s := next(), next()
	if err != nil || c > 1<<30 || s > 1<<40 {
		return nil, 0, 0, errCorrupt
	}
	return r, int(c), int(s), nil
}

// persist stores r in tx, split in chunks.
func (p *pendingResults) persist(tx *store.Tx, r *result) error {
	rows := p.rows(r) // never empty: at least "[]"
	chunks := 0
	for off := 0; off < len(rows); off += resultChunk {
		if err := tx.Put(store.DomainDistributed, chunkKey(r.id, chunks), rows[off:min(off+resultChunk, len(rows))]); err != nil {
			return err
		}
		chunks++
	}
	return tx.Put(store.DomainDistributed, metaKey(r.id), encodeMeta(r, chunks, len(rows)))
}

// keep stores, in one transaction, the results not in the store yet and
// takes their queries off the queue: after a failed write the results,
// not the queries, are what a restart must find.
func (r *Runner) keep(ctx context.Context) error {
	var todo []*result
	for _, res := range r.pending.results {
		if !res.stored {
			todo = append(todo, res)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	err := r.o.Store.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for _, res := range todo {
			if err := r.pending.persist(tx, res); err != nil {
				return err
			}
			if err := tx.Delete(store.DomainDistributed, res.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// They are still in memory, and their queries still queued: a
		// restart runs them again.
		r.o.Log.Error("Cannot store distributed query results for the next write: " + err.Error())
		return fmt.Errorf("store distributed results: %w", err)
	}
	for _, res := range todo {
		res.stored = true
	}
	return nil
}

// forget removes, after a successful write, the written results from the
// store and their queries from the queue.
func (r *Runner) forget(ctx context.Context, written []*result) error {
	return r.o.Store.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for _, res := range written {
			if res.stored {
				continue
			}
			if err := tx.Delete(store.DomainDistributed, res.id); err != nil {
				return err
			}
		}
		_, err := tx.DeletePrefix(store.DomainDistributed, resultPrefix)
		return err
	})
}

// loadPending reads back the results a previous run could not write.
// The keys of one result are contiguous and its chunks come before its
// meta entry (0xFF ends the id, "d…" sorts before "m"), so each chunk is
// appended to the results buffer as the scan reads it: loading a large
// backlog does not hold it twice.
func (r *Runner) loadPending(ctx context.Context) error {
	p := r.pending
	var (
		cur          string
		seg          segment
		open, skip   bool
		chunks, size int
		bad          []string
	)
	drop := func(id string, why error) {
		r.o.Log.Warn("Dropping unreadable stored result of distributed query " + truncate(id) + ": " + why.Error())
		bad = append(bad, id)
	}
	closeCur := func() {
		if open {
			p.abort(seg)
			drop(cur, errCorrupt) // chunks without a meta entry
		}
		open, skip = false, false
	}
	err := r.o.Store.Scan(ctx, store.DomainDistributed, resultPrefix, func(key string, v []byte) error {
		rest := key[len(resultPrefix):]
		i := strings.IndexByte(rest, 0xff)
		if i < 0 {
			return nil
		}
		id, kind := rest[:i], rest[i+1:]
		if id != cur || (!open && !skip) {
			closeCur()
			cur, chunks, size = id, 0, 0
			if p.has(id) {
				skip = true
			} else {
				seg, open = p.begin(id), true
			}
		}
		if skip {
			return nil
		}
		if kind != "m" {
			p.buf = append(p.buf, v...)
			chunks++
			size += len(v)
			return nil
		}
		open = false
		res, wantChunks, wantSize, err := decodeMeta(id, v)
		rows := p.buf[seg.rows:]
		if err == nil && (wantChunks != chunks || wantSize != size || len(rows) < 2 || rows[0] != '[' || !json.Valid(rows)) {
			err = errCorrupt
		}
		if err != nil {
			p.abort(seg)
			drop(id, err)
			skip = true // ignore what follows of this id
			return nil
		}
		res.stored = true
		p.commit(seg, res)
		return nil
	})
	closeCur()
	if err != nil {
		return fmt.Errorf("read stored distributed results: %w", err)
	}
	for _, id := range bad {
		if _, err := r.o.Store.DeletePrefix(ctx, store.DomainDistributed, resultBase(id)); err != nil {
			r.o.Log.Warn("Cannot delete stored result of distributed query " + truncate(id) + ": " + err.Error())
		}
	}
	if n := p.count(); n > 0 {
		r.o.Log.Info(fmt.Sprintf("%d distributed query results from an earlier run wait to be written", n))
	}
	r.setPendingStats()
	return nil
}

// write sends every pending result in one request, with
// --distributed_tls_max_attempts attempts. On success they are forgotten;
// on failure they are kept, in memory and in the store, for the next
// iteration. Results are stored only then, so the common case writes no
// rows to the store at all.
func (r *Runner) write(ctx context.Context) error {
	if r.pending.count() == 0 {
		return nil
	}
	fl := r.o.Flags
	body, done := r.pending.writeBody()
	err := r.o.Client.Retry(ctx, fl.Int("distributed_tls_max_attempts"), func() error {
		_, err := r.o.Client.Post(ctx, remote.Request{Path: fl.Get("distributed_tls_write_endpoint"), Body: body})
		return err
	})
	done()
	if err != nil {
		r.count(func(s *Stats) { s.WriteFailures++ })
		if ctx.Err() == nil {
			r.o.Log.Warn(fmt.Sprintf("Distributed write to %s%s failed, %d results kept for the next try: %v",
				fl.Get("tls_hostname"), fl.Get("distributed_tls_write_endpoint"), r.pending.count(), err))
		}
		err = fmt.Errorf("distributed write: %w", err)
		if kerr := r.keep(ctx); kerr != nil {
			err = errors.Join(err, kerr)
		}
		r.setPendingStats()
		return err
	}
	written := r.pending.results
	r.pending.clear()
	r.count(func(s *Stats) { s.Writes++ })
	r.setPendingStats()
	if err := r.forget(ctx, written); err != nil {
		// They would be run or sent again after a restart: the server
		// sees a result twice rather than never.
		r.o.Log.Warn("Cannot forget written distributed results: " + err.Error())
		return fmt.Errorf("forget written distributed results: %w", err)
	}
	return nil
}
