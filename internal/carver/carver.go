// Package carver is osquery's file carver (osquery/carver): a carve is
// requested through the carves table (carve = 1) or the carve() SQL
// function, stored as a record in the store's carves domain, and taken up
// by Run, one carve at a time. The requested regular files are archived
// (tar, or .tar.zst with --carver_compression) in a private temporary
// directory, the archive's size and sha256 are recorded, and it is uploaded
// through the TLS remote API in --carver_block_size blocks. Records of
// finished carves expire after --carver_expiry seconds.
package carver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// Carve statuses, osquery's strings.
const (
	StatusScheduled         = "SCHEDULED"
	StatusStarting          = "STARTING"
	StatusPending           = "PENDING"
	StatusSuccess           = "SUCCESS"
	StatusCreatePathsFailed = "CREATE PATHS FAILED"
	StatusArchiveFailed     = "ARCHIVE FAILED"
	StatusCompressFailed    = "COMPRESS FAILED"
	StatusDataPostFailed    = "DATA POST FAILED"
)

// Names osquery gives the store keys and the temporary files.
const (
	keyPrefix  = "carves."
	dirPrefix  = "osquery_carve_"
	namePrefix = "carve_"
)

// DefaultInterval is how often osquery's scheduler starts pending carves.
const DefaultInterval = 60 * time.Second

// MaxPaths bounds the paths one carve takes: a pattern like /%% must not
// turn into a record of millions of names.
const MaxPaths = 100000

// Errors callers tell apart.
var (
	// ErrDisabled is a carve request while --disable_carver is true.
	ErrDisabled = errors.New("carver disabled: osqueryd needs --disable_carver=false")
	// ErrNoPaths is a carve request without any path.
	ErrNoPaths = errors.New("carve requested without paths")
	// ErrTooManyPaths is a carve request over MaxPaths.
	ErrTooManyPaths = fmt.Errorf("carve requested for more than %d paths", MaxPaths)
)

// Options are what the carver needs from the daemon.
type Options struct {
	// Client uploads the carves; nil fails every upload.
	Client *remote.Client
	// Store holds the carve records (domain carves).
	Store *store.DB
	Flags *flags.Set
	Log   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// TempDir holds each carve's private directory; "" is os.TempDir().
	TempDir string
	// Interval is how often Run looks for scheduled carves and expired
	// records besides the wake-up every new request gives; 0 is
	// DefaultInterval.
	Interval time.Duration
}

// Carver schedules carves and runs them. Schedule and List are safe for
// concurrent use; Run is called once.
type Carver struct {
	o    Options
	wake chan struct{}

	mu     sync.Mutex
	active string // guid of the carve being run, if any
}

type serviceKey struct{}

// ServiceKey is the table.Env service key the carver is stored under.
var ServiceKey = serviceKey{}

// New builds a carver. Nothing runs until Run.
func New(o Options) *Carver {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Flags == nil {
		o.Flags = flags.Standard()
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Carver{o: o, wake: make(chan struct{}, 1)}
}

// Attach makes the carver the one env's carves table and carve() use.
func (c *Carver) Attach(env *table.Env) { env.SetService(ServiceKey, c) }

// FromEnv returns the carver attached to env, or nil.
func FromEnv(env *table.Env) *Carver {
	if env == nil {
		return nil
	}
	c, _ := env.Service(ServiceKey).(*Carver)
	return c
}

// Enabled reports whether carves may be requested (--disable_carver=false).
func (c *Carver) Enabled() bool { return !c.o.Flags.Bool("disable_carver") }

// FunctionEnabled reports whether the carve() SQL function may carve
// (--carver_disable_function=false as well).
func (c *Carver) FunctionEnabled() bool {
	return c.Enabled() && !c.o.Flags.Bool("carver_disable_function")
}

// Record is one carve as the store keeps it and the carves table shows it.
// The JSON keys of osquery's record come first; Paths, Error and Skipped
// are gosquery's.
type Record struct {
	GUID      string `json:"carve_guid"`
	Time      int64  `json:"time"`
	Status    string `json:"status"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	Path      string `json:"path"`
	RequestID string `json:"request_id"`
	// Paths are the requested paths one by one: Path joins them with
	// commas as osquery does, which a name with a comma would break. They
	// are stored as bytes (see storedRecord).
	Paths []string `json:"-"`
	// Error says why the carve failed.
	Error string `json:"error,omitempty"`
	// Skipped lists requested paths left out of the archive and why
	// (missing, a directory, unreadable), at most maxSkipped of them.
	Skipped []string `json:"skipped,omitempty"`
}

// storedRecord is a Record as the store holds it. The paths go as bytes
// (base64 in JSON): a JSON string cannot hold a name that is not UTF-8,
// and the encoder would replace its bytes. The other texts are for
// display and may be replaced.
type storedRecord struct {
	Record
	RawPaths [][]byte `json:"paths,omitempty"`
}

func encodeRecord(r *Record) ([]byte, error) {
	s := storedRecord{Record: *r}
	for _, p := range r.Paths {
		s.RawPaths = append(s.RawPaths, []byte(p))
	}
	return json.Marshal(&s)
}

func decodeRecord(b []byte) (Record, error) {
	var s storedRecord
	if err := json.Unmarshal(b, &s); err != nil {
		return Record{}, err
	}
	r := s.Record
	for _, p := range s.RawPaths {
		r.Paths = append(r.Paths, string(p))
	}
	return r, nil
}

// Finished reports whether the carve has ended, well or not.
func (r *Record) Finished() bool {
	switch r.Status {
	case StatusScheduled, StatusStarting, StatusPending:
		return false
	}
	return true
}

// newGUID is a random (version 4) UUID, as osquery's carve ids are.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Schedule records a carve of paths, wakes Run and returns the record as
// scheduled; the carve itself runs on Run's goroutine, so the query that
// asked for it never waits on the server. The request id is that of the
// distributed query ctx runs (remote.RequestID), or a fresh UUID outside
// one, as osquery 5 does. Paths are sorted and deduplicated; they are
// taken literally.
func (c *Carver) Schedule(ctx context.Context, paths []string) (Record, error) {
	if !c.Enabled() {
		return Record{}, ErrDisabled
	}
	set := make([]string, 0, len(paths))
	for _, p := range paths {
		if p != "" {
			set = append(set, p)
		}
	}
	sort.Strings(set)
	set = slices.Compact(set)
	if len(set) == 0 {
		return Record{}, ErrNoPaths
	}
	if len(set) > MaxPaths {
		return Record{}, ErrTooManyPaths
	}
	if c.o.Store == nil {
		return Record{}, errors.New("carver has no store")
	}
	requestID := remote.RequestID(ctx)
	if requestID == "" {
		requestID = newGUID()
	}
	rec := Record{
		GUID:      newGUID(),
		Time:      c.o.Now().Unix(),
		Status:    StatusScheduled,
		Size:      -1,
		Path:      strings.Join(set, ","),
		RequestID: requestID,
		Paths:     set,
	}
	if err := c.put(ctx, &rec); err != nil {
		return Record{}, fmt.Errorf("schedule carve: %w", err)
	}
	c.o.Log.Info("Carve scheduled", "carve_guid", rec.GUID, "request_id", requestID, "paths", len(set))
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return rec, nil
}

// List calls fn with every carve record, in key order, until fn returns
// false. Records that do not decode are skipped (Run deletes them).
func (c *Carver) List(ctx context.Context, fn func(Record) bool) error {
	if c.o.Store == nil {
		return nil
	}
	err := c.o.Store.Scan(ctx, store.DomainCarves, keyPrefix, func(key string, value []byte) error {
		r, err := decodeRecord(value)
		if err != nil {
			c.o.Log.Debug("skipping undecodable carve record", "key", key, "err", err)
			return nil
		}
		if !fn(r) {
			return store.ErrStopScan
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list carves: %w", err)
	}
	return nil
}

// Get returns the record of guid.
func (c *Carver) Get(ctx context.Context, guid string) (Record, bool, error) {
	b, ok, err := c.o.Store.Get(ctx, store.DomainCarves, keyPrefix+guid)
	if err != nil || !ok {
		return Record{}, ok, err
	}
	r, err := decodeRecord(b)
	if err != nil {
		return r, false, fmt.Errorf("carve record %s: %w", guid, err)
	}
	return r, true, nil
}

func (c *Carver) put(ctx context.Context, r *Record) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return c.o.Store.Put(ctx, store.DomainCarves, keyPrefix+r.GUID, b)
}

// Run takes scheduled carves, one at a time, at start, every Interval and
// as soon as one is scheduled, and expires finished records; it returns
// when ctx ends. With --disable_carver it only expires records.
func (c *Carver) Run(ctx context.Context) error {
	if c.o.Store == nil {
		return errors.New("carver has no store")
	}
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		c.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// pass expires old records and runs every scheduled carve, oldest first.
func (c *Carver) pass(ctx context.Context) {
	var scheduled []Record
	now := c.o.Now().Unix()
	expiry := c.o.Flags.Int("carver_expiry")
	var drop []string
	err := c.o.Store.Scan(ctx, store.DomainCarves, keyPrefix, func(key string, value []byte) error {
		r, err := decodeRecord(value)
		if err != nil || r.GUID == "" || r.Status == "" {
			// osquery deletes malformed carve records too.
			drop = append(drop, key)
			return nil
		}
		switch {
		case r.Status == StatusScheduled:
			scheduled = append(scheduled, r)
		case now-r.Time > expiry:
			// osquery expires only successful carves and keeps failed
			// ones forever; any record that is not waiting expires here,
			// so the domain cannot grow without bound.
			drop = append(drop, key)
		}
		return nil
	})
	if err != nil {
		c.o.Log.Warn("Cannot scan carve records: " + err.Error())
		return
	}
	for _, key := range drop {
		c.o.Log.Debug("Expiring carve metadata", "key", key)
		if err := c.o.Store.Delete(ctx, store.DomainCarves, key); err != nil {
			c.o.Log.Warn("Cannot delete carve record " + key + ": " + err.Error())
		}
	}
	if !c.Enabled() {
		return
	}
	sort.SliceStable(scheduled, func(i, j int) bool { return scheduled[i].Time < scheduled[j].Time })
	for i := range scheduled {
		if ctx.Err() != nil {
			return
		}
		c.carve(ctx, &scheduled[i])
	}
}

// Active returns the guid of the carve running now, or "".
func (c *Carver) Active() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

func (c *Carver) setActive(guid string) {
	c.mu.Lock()
	c.active = guid
	c.mu.Unlock()
}

// update writes r's new state. Updates outlive a shutdown in progress, so
// a carve interrupted by it says so.
func (c *Carver) update(ctx context.Context, r *Record) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.put(ctx, r); err != nil {
		c.o.Log.Warn("Failed to update status of carve in database "+r.GUID, "err", err)
	}
}

// fail ends r with status and why.
func (c *Carver) fail(ctx context.Context, r *Record, status string, err error) {
	r.Status, r.Error = status, err.Error()
	c.update(ctx, r)
	c.o.Log.Warn("Carve failed", "carve_guid", r.GUID, "status", status, "err", err)
}

// carve runs one scheduled carve to its end.
func (c *Carver) carve(ctx context.Context, r *Record) {
	c.setActive(r.GUID)
	defer c.setActive("")
	r.Status = StatusStarting
	c.update(ctx, r)
	paths := r.Paths
	if len(paths) == 0 {
		// A record without the list (written by hand, or by an older
		// version) has osquery's comma-joined path only.
		paths = strings.Split(r.Path, ",")
	}

	base := c.o.TempDir
	if base == "" {
		base = os.TempDir()
	}
	// MkdirTemp makes a fresh 0700 directory with an unpredictable name,
	// so no other user can plant or read files in it.
	dir, err := os.MkdirTemp(base, dirPrefix+r.GUID+"_")
	if err != nil {
		c.fail(ctx, r, StatusCreatePathsFailed, fmt.Errorf("Failed to create carve file store: %w", err))
		return
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			c.o.Log.Warn("Cannot remove carve directory "+dir, "err", err)
		}
	}()
	r.Status = StatusPending
	c.update(ctx, r)

	tarPath := dir + "/" + namePrefix + r.GUID + ".tar"
	compress := c.o.Flags.Bool("carver_compression")
	out, skipped, err := writeArchive(ctx, tarPath, paths, c.o.Log)
	r.Skipped = skipped
	if err != nil {
		c.fail(ctx, r, StatusArchiveFailed, fmt.Errorf("Failed to create carve archive: %w", err))
		return
	}
	upload := tarPath
	if compress {
		upload = tarPath + ".zst"
		out, err = compressArchive(ctx, tarPath, upload)
		// The tar is not needed any more: free its space before the
		// upload, which may take long.
		os.Remove(tarPath)
		if err != nil {
			c.fail(ctx, r, StatusCompressFailed, fmt.Errorf("Failed to compress carve archive: %w", err))
			return
		}
	}
	r.Size, r.SHA256 = out.size, out.sha256
	c.update(ctx, r)

	if err := c.post(ctx, r, upload); err != nil {
		c.fail(ctx, r, StatusDataPostFailed, fmt.Errorf("Failed to post carve: %w", err))
		return
	}
	r.Status = StatusSuccess
	c.update(ctx, r)
	c.o.Log.Info("Carve uploaded", "carve_guid", r.GUID, "size", r.Size, "skipped", len(r.Skipped))
}
