package logger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// Keys of the tls plugin in the store's logs domain. The buffered lines
// keep osquery's names, tls_r_<unixtime>_<n> and tls_s_<unixtime>_<n>, with
// both numbers zero-padded so that byte order (the store's scan order) is
// arrival order; osquery's unpadded keys sort 10 before 9. The other keys
// share the tls_ prefix and none of them starts with a buffer prefix (nor
// with the scheduler's "pending.").
const (
	tlsResultPrefix = "tls_r_"
	tlsStatusPrefix = "tls_s_"
	// tlsMetaKey holds the counter, the last key time and the buffered
	// line counts, written in the transaction of every change.
	tlsMetaKey = "tls_meta"
	// tlsSentPrefix + zero-padded batch number holds the hashes of one
	// accepted batch of result lines (8 bytes each).
	tlsSentPrefix = "tls_sent_"
)

// Kinds of buffered line.
const (
	kindResult = 0
	kindStatus = 1
)

var tlsPrefixes = [2]string{tlsResultPrefix, tlsStatusPrefix}

var tlsLogTypes = [2]string{"result", "status"}

// appendPadded appends v in decimal, left-padded with zeros to width.
func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// tlsKey is the buffer key of line n of the kind, appended at unix time t.
func tlsKey(kind int, t int64, n uint64) string {
	b := make([]byte, 0, 6+10+1+20)
	b = append(b, tlsPrefixes[kind]...)
	b = appendPadded(b, uint64(max(t, 0)), 10)
	b = append(b, '_')
	b = appendPadded(b, n, 20)
	return string(b)
}

// parseTLSKey returns the time and counter of a buffer key.
func parseTLSKey(key string) (t int64, n uint64, ok bool) {
	if len(key) < 6 {
		return 0, 0, false
	}
	ts, ns, found := strings.Cut(key[6:], "_")
	if !found {
		return 0, 0, false
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseUint(ns, 10, 64)
	return t, n, err1 == nil && err2 == nil
}

// keyOrder is the part of a buffer key that orders lines of both kinds.
func keyOrder(key string) string { return key[len(tlsResultPrefix):] }

func sentKey(batch uint64) string {
	return string(appendPadded([]byte(tlsSentPrefix), batch, 20))
}

// tlsMeta is the plugin's persistent bookkeeping.
type tlsMeta struct {
	seq      uint64   // last line number handed out
	lastTime int64    // time of the newest key; keys never go back in time
	count    [2]int64 // buffered lines by kind
}

func (m tlsMeta) encode() []byte {
	b := []byte("1 ")
	b = strconv.AppendUint(b, m.seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.lastTime, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.count[kindResult], 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, m.count[kindStatus], 10)
}

var errBadMeta = errors.New("unreadable tls logger bookkeeping")

func decodeTLSMeta(b []byte) (tlsMeta, error) {
	f := strings.Fields(string(b))
	if len(f) != 5 || f[0] != "1" {
		return tlsMeta{}, errBadMeta
	}
	var m tlsMeta
	var errs [4]error
	m.seq, errs[0] = strconv.ParseUint(f[1], 10, 64)
	m.lastTime, errs[1] = strconv.ParseInt(f[2], 10, 64)
	m.count[kindResult], errs[2] = strconv.ParseInt(f[3], 10, 64)
	m.count[kindStatus], errs[3] = strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(errs[:]...); err != nil || m.count[0] < 0 || m.count[1] < 0 {
		return tlsMeta{}, errBadMeta
	}
	return m, nil
}

// lineHash identifies a result line in the sent ring: the first 8 bytes of
// its SHA-256. With 100,000 hashes kept, a false match has a probability
// of about 5e-15 per lookup.
func lineHash(line []byte) uint64 {
	sum := sha256.Sum256(line)
	return binary.BigEndian.Uint64(sum[:8])
}

// sentRing remembers the hashes of the last result lines the server
// accepted, in batches as they were sent, so a line replayed after a
// crash is recognised after it left the buffer.
type sentRing struct {
	batches []sentBatch // oldest first
	counts  map[uint64]int32
	total   int
	next    uint64 // number of the next batch
}

type sentBatch struct {
	n      uint64
	hashes []uint64
}

func newSentRing() sentRing { return sentRing{counts: map[uint64]int32{}, next: 1} }

func encodeHashes(hs []uint64) []byte {
	b := make([]byte, 0, 8*len(hs))
	for _, h := range hs {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

func decodeHashes(b []byte) []uint64 {
	hs := make([]uint64, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		hs = append(hs, binary.BigEndian.Uint64(b))
	}
	return hs
}

func (r *sentRing) has(h uint64) bool { return r.counts[h] > 0 }

func (r *sentRing) push(b sentBatch) {
	r.batches = append(r.batches, b)
	for _, h := range b.hashes {
		r.counts[h]++
	}
	r.total += len(b.hashes)
	r.next = max(r.next, b.n+1)
}

// evictions is how many of the oldest batches go once add more hashes
// arrive with limit kept: whole batches, as long as at least limit
// hashes remain.
func (r *sentRing) evictions(add, limit int) int {
	total, n := r.total+add, 0
	for n < len(r.batches) && total-len(r.batches[n].hashes) >= limit {
		total -= len(r.batches[n].hashes)
		n++
	}
	return n
}

func (r *sentRing) dropOldest(n int) {
	for i, b := range r.batches[:n] {
		for _, h := range b.hashes {
			if r.counts[h]--; r.counts[h] <= 0 {
				delete(r.counts, h)
			}
		}
		r.total -= len(b.hashes)
		r.batches[i] = sentBatch{}
	}
	// append reallocates when the capacity runs out and copies only the
	// live batches, so the dropped prefix is released in time.
	r.batches = r.batches[n:]
}
