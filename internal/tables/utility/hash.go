package utility

import (
	"container/list"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/table"
)

var hashSpec = table.Spec{
	Name:        "hash",
	Description: "Filesystem hash data.",
	Columns: []table.Column{
		table.Text("path").Index().Required().Optimized(),
		table.Text("directory").Required().Optimized(),
		table.Text("md5").Collation("nocase"),
		table.Text("sha1").Collation("nocase"),
		table.Text("sha256").Collation("nocase"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
		table.Text("mount_namespace_id").Hidden(),
	},
}

type hashRow struct {
	Path             string `col:"path"`
	Directory        string `col:"directory"`
	MD5              string `col:"md5"`
	SHA1             string `col:"sha1"`
	SHA256           string `col:"sha256"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
	MountNamespaceID string `col:"mount_namespace_id"`
}

func init() { table.Register(hashSpec, generateHash) }

// hashKinds is a set of digests.
type hashKinds uint8

const (
	hashMD5 hashKinds = 1 << iota
	hashSHA1
	hashSHA256
)

// hashDigests holds hex digests; a kind not computed is "".
type hashDigests struct {
	md5, sha1, sha256 string
}

// generateHash hashes the regular files (symlinks followed) that the path
// and directory constraints name, like the file table names them. Only the
// digests the statement reads are computed. Results are cached per path
// (hash_cache_max entries, off with disable_hash_cache) and recomputed when
// the file's identity or times change. Files larger than read_max, and files
// that cannot be read, keep their row with empty digests, as in osquery.
func generateHash(ctx context.Context, q *table.Query, emit func(hashRow)) error {
	var want hashKinds
	if q.Used("md5") {
		want |= hashMD5
	}
	if q.Used("sha1") {
		want |= hashSHA1
	}
	if q.Used("sha256") {
		want |= hashSHA256
	}
	h := hasher{
		ctx:     ctx,
		want:    want,
		readMax: hashFlag(q.Env, "read_max", 50<<20),
		delay:   time.Duration(hashFlag(q.Env, "hash_delay", 0)) * time.Millisecond,
	}
	if !hashFlagBool(q.Env, "disable_hash_cache") {
		h.cache = hashCacheFor(q.Env)
		h.cacheMax = int(hashFlag(q.Env, "hash_cache_max", 500))
	}
	views := fileViews(q)
	defer closeFileViews(views)
	for _, v := range views {
		h.view = v
		eachFileTarget(ctx, q, v, func(t fileTarget) bool {
			if r, ok := h.row(t); ok {
				emit(r)
			}
			return ctx.Err() == nil
		})
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// hasher carries one generation's settings.
type hasher struct {
	ctx      context.Context
	view     *fileView
	want     hashKinds
	readMax  int64
	delay    time.Duration
	cache    *hashCache
	cacheMax int
}

func (h *hasher) row(t fileTarget) (hashRow, bool) {
	v := h.view
	st, err := v.stat(t.path, true)
	if err != nil || !st.isRegular() {
		// Directories, devices, FIFOs and sockets have no content to hash,
		// and opening a FIFO could block.
		return hashRow{}, false
	}
	r := hashRow{
		Path:             t.path,
		Directory:        t.dir,
		PIDWithNamespace: v.pid,
		MountNamespaceID: v.mntNS,
	}
	if h.want == 0 {
		return r, true
	}
	key := hashCacheKey{view: v.cacheKey, path: t.path}
	if h.cache != nil {
		if d, ok := h.cache.get(key, &st, h.want); ok {
			r.MD5, r.SHA1, r.SHA256 = d.md5, d.sha1, d.sha256
			return r, true
		}
	}
	d, id, err := hashFile(h.ctx, v, t.path, h.want, h.readMax)
	if err != nil {
		v.log.Debug("hash: cannot hash file", "path", t.path, "err", err)
		return r, true
	}
	if h.cache != nil {
		d = h.cache.put(key, &id, h.want, d, h.cacheMax)
	} else if h.delay > 0 {
		// hash_delay throttles hashing when nothing is cached, as osquery
		// sleeps after each uncached hash in the daemon.
		select {
		case <-h.ctx.Done():
		case <-time.After(h.delay):
		}
	}
	r.MD5, r.SHA1, r.SHA256 = d.md5, d.sha1, d.sha256
	return r, true
}

var errHashTooLarge = errors.New("file exceeds read_max")

// hashFile computes the asked digests of a regular file in one read. It
// returns the identity of the file it read (from fstat of the open
// descriptor, so a file swapped after the first stat is not cached under the
// old identity).
func hashFile(ctx context.Context, v *fileView, path string, kinds hashKinds, readMax int64) (hashDigests, fileStat, error) {
	f, err := v.openRead(path)
	if err != nil {
		return hashDigests{}, fileStat{}, err
	}
	defer f.Close()
	var ust unix.Stat_t
	rc, err := f.SyscallConn()
	if err != nil {
		return hashDigests{}, fileStat{}, err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &ust) }); cerr != nil {
		return hashDigests{}, fileStat{}, cerr
	}
	if err != nil {
		return hashDigests{}, fileStat{}, err
	}
	id := fileStatFromStat(&ust)
	if !id.isRegular() {
		return hashDigests{}, fileStat{}, fmt.Errorf("%s is not a regular file", path)
	}
	if id.size > readMax {
		return hashDigests{}, fileStat{}, fmt.Errorf("%w: %d > %d", errHashTooLarge, id.size, readMax)
	}
	var md, s1, s256 hash.Hash
	var ws []io.Writer
	if kinds&hashMD5 != 0 {
		md = md5.New()
		ws = append(ws, md)
	}
	if kinds&hashSHA1 != 0 {
		s1 = sha1.New()
		ws = append(ws, s1)
	}
	if kinds&hashSHA256 != 0 {
		s256 = sha256.New()
		ws = append(ws, s256)
	}
	w := io.MultiWriter(ws...)
	buf := make([]byte, 64<<10)
	var total int64
	for {
		if ctx.Err() != nil {
			return hashDigests{}, fileStat{}, ctx.Err()
		}
		n, err := f.Read(buf)
		if n > 0 {
			total += int64(n)
			if total > readMax {
				// The file grew past the limit while being read.
				return hashDigests{}, fileStat{}, errHashTooLarge
			}
			w.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return hashDigests{}, fileStat{}, err
		}
	}
	var d hashDigests
	if md != nil {
		d.md5 = hex.EncodeToString(md.Sum(nil))
	}
	if s1 != nil {
		d.sha1 = hex.EncodeToString(s1.Sum(nil))
	}
	if s256 != nil {
		d.sha256 = hex.EncodeToString(s256.Sum(nil))
	}
	return d, id, nil
}

func hashFlag(env *table.Env, name string, def int64) int64 {
	if env.Flags == nil {
		return def
	}
	if _, ok := env.Flags.Lookup(name); !ok {
		return def
	}
	return env.Flags.Int(name)
}

func hashFlagBool(env *table.Env, name string) bool {
	return env.Flags != nil && env.Flags.Bool(name)
}

// hashCacheKey names a file: the filesystem view and the path in it.
type hashCacheKey struct {
	view, path string
}

type hashCacheEntry struct {
	key hashCacheKey
	// The identity the digests belong to. ctime is included because a
	// writer can put mtime back (touch -d) but cannot set ctime.
	dev, ino               uint64
	size, mtime, mtimeNsec int64
	ctime, ctimeNsec       int64
	kinds                  hashKinds
	digests                hashDigests
}

func (e *hashCacheEntry) matches(st *fileStat) bool {
	return e.dev == st.dev && e.ino == st.ino && e.size == st.size &&
		e.mtime == st.mtime && e.mtimeNsec == st.mtimeNsec &&
		e.ctime == st.ctime && e.ctimeNsec == st.ctimeNsec
}

// hashCache is the process-wide LRU of file digests, kept on the Env so
// that it lives as long as the agent and is shared by its connections.
type hashCache struct {
	mu    sync.Mutex
	order *list.List // front is the most recently used *hashCacheEntry
	byKey map[hashCacheKey]*list.Element
}

type hashCacheService struct{}

var hashCacheInit sync.Mutex

func hashCacheFor(env *table.Env) *hashCache {
	hashCacheInit.Lock()
	defer hashCacheInit.Unlock()
	if c, ok := env.Service(hashCacheService{}).(*hashCache); ok {
		return c
	}
	c := &hashCache{order: list.New(), byKey: map[hashCacheKey]*list.Element{}}
	env.SetService(hashCacheService{}, c)
	return c
}

// get returns the cached digests of key when the file is unchanged and every
// kind asked for was computed.
func (c *hashCache) get(key hashCacheKey, st *fileStat, kinds hashKinds) (hashDigests, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return hashDigests{}, false
	}
	e := el.Value.(*hashCacheEntry)
	if !e.matches(st) || e.kinds&kinds != kinds {
		return hashDigests{}, false
	}
	c.order.MoveToFront(el)
	return e.digests, true
}

// put stores digests computed for the file identity st, merging them with
// digests of other kinds already cached for the same identity, and evicts
// the least recently used entries beyond max. It returns the merged digests.
func (c *hashCache) put(key hashCacheKey, st *fileStat, kinds hashKinds, d hashDigests, max int) hashDigests {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		e := el.Value.(*hashCacheEntry)
		if e.matches(st) {
			kinds |= e.kinds
			if d.md5 == "" {
				d.md5 = e.digests.md5
			}
			if d.sha1 == "" {
				d.sha1 = e.digests.sha1
			}
			if d.sha256 == "" {
				d.sha256 = e.digests.sha256
			}
		}
		c.order.Remove(el)
		delete(c.byKey, key)
	}
	if max > 0 {
		e := &hashCacheEntry{
			key: key, dev: st.dev, ino: st.ino, size: st.size,
			mtime: st.mtime, mtimeNsec: st.mtimeNsec, ctime: st.ctime, ctimeNsec: st.ctimeNsec,
			kinds: kinds, digests: d,
		}
		c.byKey[key] = c.order.PushFront(e)
	}
	// hash_cache_max can shrink at run time (config options).
	for c.order.Len() > max && c.order.Len() > 0 {
		back := c.order.Back()
		c.order.Remove(back)
		delete(c.byKey, back.Value.(*hashCacheEntry).key)
	}
	return d
}

// len reports the number of cached files.
func (c *hashCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
