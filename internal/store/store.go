// Package store is gosquery's persistent state, the counterpart of
// osquery's RocksDB at --database_path: key/value domains (node key,
// differential results and their counters, denylist state, buffered logs,
// ...) and one event buffer per event subscriber.
//
// Everything lives in one SQLite database file in WAL mode, opened with the
// driver the SQL engine uses. Open("") gives an in-memory store that is gone
// on Close (osqueryi's default and --disable_database).
//
// # Where the file is
//
// osquery's --database_path names a RocksDB directory (default
// /var/osquery/osquery.db). ResolvePath maps it to a file:
//   - an existing directory, or a path ending in "/", holds FileName
//     ("gosquery.sqlite") inside it;
//   - an existing non-directory is the database file itself;
//   - a path that does not exist is a file only when its extension is
//     .sqlite, .sqlite3 or .sqlitedb; anything else (no extension, or .db
//     like osquery's default) is taken as a directory, as osquery does.
//
// # Damage
//
// A store that cannot be used (not a SQLite file, a failed
// "PRAGMA quick_check", a schema this version does not know, a directory
// where the file should be) is renamed to <file>.corrupt-<unix time> (its
// -wal and -shm files follow) with an error logged, and a fresh store is
// created, so a damaged file never causes a crash loop. Errors that are not
// about the file's contents (permission denied, read-only file system,
// another process holding a lock past the busy timeout) are returned as
// errors and nothing is moved.
//
// # Durability
//
// WAL with synchronous=NORMAL: a committed transaction survives a crash or
// SIGKILL of the process; a power loss may roll back the last transactions
// but never leaves a half-written one. Writes that belong together (a
// differential result and its counter) go through DB.Update.
//
// # Concurrency
//
// A DB is one SQLite connection guarded by a lock that honours contexts.
// Statements are short: scans read pages of rows under the lock and call
// the caller's function with the lock released, so a slow consumer never
// blocks writers and callbacks may use the DB again (except inside
// DB.Update, which holds the lock until it returns). A second process may
// open the same file; SQLite's locking (OFD locks in this driver) keeps it
// consistent, and the daemon's pidfile prevents two daemons anyway.
//
// The driver panics with "sqlite3: out of memory" when SQLite runs out of
// its memory budget; every entry point recovers that into ErrNoMemory and
// leaves the connection usable.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// FileName is the database file gosquery keeps inside a --database_path
// directory.
const FileName = "gosquery.sqlite"

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNoMemory is returned when SQLite ran out of memory during a call.
	ErrNoMemory = errors.New("store: sqlite out of memory")
	// ErrUnknownDomain is returned for a key/value domain osquery does not
	// have (see Domains).
	ErrUnknownDomain = errors.New("store: unknown domain")
	// ErrBufferFull is returned by EventStore.AddAsync when the rows
	// waiting to be written reach Options.MaxPendingRows (the disk is
	// failing or writes cannot keep up).
	ErrBufferFull = errors.New("store: event buffer full")
	// ErrStopScan, returned by a Scan callback, ends the scan without error.
	ErrStopScan = errors.New("store: stop scan")
	// ErrTxDone is returned by Tx methods after Update returned.
	ErrTxDone = errors.New("store: transaction already finished")
)

// Options tune a store. Zero values take the defaults.
type Options struct {
	// Log receives warnings and errors (moved-aside files, failed
	// background flushes). Nil discards.
	Log *slog.Logger
	// BusyTimeout is how long a statement waits for another process's
	// lock. Default 5s.
	BusyTimeout time.Duration
	// FlushInterval is how long AddAsync rows may wait before they are
	// written. Default 100ms.
	FlushInterval time.Duration
	// FlushRows writes buffered rows as soon as one subscriber has this
	// many. Default 1000.
	FlushRows int
	// MaxPendingRows caps the rows one subscriber may buffer; beyond it
	// AddAsync returns ErrBufferFull. Default 100000.
	MaxPendingRows int
	// MaxMemory caps SQLite's memory per connection in bytes (the driver's
	// default, 256 MiB, when 0). Mostly for tests.
	MaxMemory int64
	// SkipQuickCheck skips "PRAGMA quick_check" on open. The check reads
	// the whole file; it is on by default.
	SkipQuickCheck bool
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.FlushRows <= 0 {
		o.FlushRows = 1000
	}
	if o.MaxPendingRows <= 0 {
		o.MaxPendingRows = 100000
	}
	if o.MaxPendingRows < o.FlushRows {
		o.MaxPendingRows = o.FlushRows
	}
	return o
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	file string // resolved database file, "" when in memory
	opts Options
	log  *slog.Logger

	// sem is the connection lock: a channel so waiting honours contexts.
	sem   chan struct{}
	conn  *sqlite3.Conn // nil after Close; guarded by sem
	stmts map[string]*sqlite3.Stmt

	// closeMu orders AddAsync against Close: no row is accepted after
	// Close started its final flush.
	closeMu sync.RWMutex
	closed  bool

	evMu   sync.Mutex
	events map[string]*EventStore

	wake, urgent chan struct{}
	done         chan struct{}
	wg           sync.WaitGroup
	closeOnce    sync.Once
	closeErr     error
}

// Open opens (creating it if needed) the store at path, or an in-memory
// store when path is "". See the package comment for how path is resolved
// and what happens to a damaged file.
func Open(path string, log *slog.Logger) (*DB, error) {
	return OpenWithOptions(path, Options{Log: log})
}

// OpenWithOptions is Open with tuning.
func OpenWithOptions(path string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if opts.MaxMemory < 0 || opts.MaxMemory > 1<<32 {
		return nil, fmt.Errorf("store: MaxMemory %d out of range", opts.MaxMemory)
	}
	file, err := ResolvePath(path)
	if err != nil {
		return nil, err
	}
	db := &DB{
		file:   file,
		opts:   opts,
		log:    opts.Log,
		sem:    make(chan struct{}, 1),
		stmts:  map[string]*sqlite3.Stmt{},
		events: map[string]*EventStore{},
		wake:   make(chan struct{}, 1),
		urgent: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if file == "" {
		err = db.openMemory()
	} else {
		err = db.openFile()
	}
	if err != nil {
		return nil, err
	}
	db.wg.Add(1)
	go db.flushLoop()
	return db, nil
}

// Path is the database file in use, "" for an in-memory store.
func (db *DB) Path() string { return db.file }

// ResolvePath maps a --database_path value to the absolute path of the
// SQLite file used; see the package comment. "" stays "" (in memory).
func ResolvePath(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	// Absolute, so that no name is ever read as a "file:" URI.
	clean, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("store: database path %s: %w", path, err)
	}
	if strings.HasSuffix(path, "/") {
		return filepath.Join(clean, FileName), nil
	}
	fi, err := os.Stat(clean)
	switch {
	case err == nil && fi.IsDir():
		return filepath.Join(clean, FileName), nil
	case err == nil:
		return clean, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("store: database path %s: %w", path, err)
	}
	switch strings.ToLower(filepath.Ext(clean)) {
	case ".sqlite", ".sqlite3", ".sqlitedb":
		return clean, nil
	}
	return filepath.Join(clean, FileName), nil
}

func (db *DB) connect(name string) (*sqlite3.Conn, error) {
	ctx := context.Background()
	if db.opts.MaxMemory > 0 {
		ctx = sqlite3.WithMaxMemory(ctx, db.opts.MaxMemory)
	}
	var conn *sqlite3.Conn
	err := guardOOM(func() error {
		var err error
		conn, err = sqlite3.OpenContext(ctx, name)
		return err
	})
	return conn, err
}

func (db *DB) openMemory() error {
	conn, err := db.connect(":memory:")
	if err != nil {
		return fmt.Errorf("store: open in-memory database: %w", err)
	}
	db.conn = conn
	if err := db.setup(false, true); err != nil {
		db.closeConn()
		return fmt.Errorf("store: in-memory database: %w", err)
	}
	return nil
}

// damagedError marks a store whose contents (not its surroundings) are
// unusable: it is moved aside and recreated.
type damagedError struct{ reason string }

func (e *damagedError) Error() string { return e.reason }

func damaged(format string, args ...any) error {
	return &damagedError{reason: fmt.Sprintf(format, args...)}
}

// isDamaged tells errors about the file's contents from errors about its
// surroundings. SQLITE_BUSY, permission and I/O errors are not damage:
// moving a healthy file aside because another process held a lock would
// lose state for nothing.
func isDamaged(err error) bool {
	var de *damagedError
	if errors.As(err, &de) {
		return true
	}
	switch sqliteCode(err) {
	case sqlite3.NOTADB, sqlite3.CORRUPT, sqlite3.FORMAT:
		return true
	}
	// The driver's name for EIO/ENXIO while reading: a bad sector stays
	// bad, and a fresh file lands elsewhere on the disk.
	return errors.Is(err, sqlite3.IOERR_CORRUPTFS)
}

func (db *DB) openFile() error {
	dir := filepath.Dir(db.file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: create database directory: %w", err)
	}
	err := db.tryOpenFile()
	if err == nil {
		return nil
	}
	if !isDamaged(err) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("store: %w", err) // already names the file
		}
		return fmt.Errorf("store: open %s: %w", db.file, err)
	}
	moved, merr := moveAside(db.file)
	if merr != nil {
		return fmt.Errorf("store: %s is unusable (%v) and could not be moved aside: %w", db.file, err, merr)
	}
	db.log.Error("database is unusable; moved it aside and started a fresh one",
		"path", db.file, "reason", err.Error(), "moved_to", moved)
	if err := db.tryOpenFile(); err != nil {
		return fmt.Errorf("store: open fresh %s after moving the damaged one aside: %w", db.file, err)
	}
	return nil
}

func (db *DB) tryOpenFile() error {
	fi, err := os.Lstat(db.file)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		// The driver opens database files with O_NOFOLLOW. A link is a
		// deliberate setup, not damage: say so instead of replacing it.
		return fmt.Errorf("%s is a symbolic link; the database file cannot be one (a linked directory is fine)", db.file)
	case err == nil && fi.IsDir():
		return damaged("%s is a directory", db.file)
	case err == nil && !fi.Mode().IsRegular():
		return damaged("%s is not a regular file (%s)", db.file, fi.Mode().Type())
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if fi == nil {
		// Create it ourselves: SQLite would use 0644, and the state (node
		// key, results, events) is for root only, as osquery's 0700
		// RocksDB directory is. An empty file is an empty database.
		f, err := os.OpenFile(db.file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if f != nil {
			f.Close()
		}
	}
	// SQLite ignores URI parameters unless the name is a file: URI; a
	// plain path is taken literally, whatever characters it has.
	conn, err := db.connect(db.file)
	if err != nil {
		return err
	}
	db.conn = conn
	if ro, _ := conn.ReadOnly("main"); ro {
		db.closeConn()
		return fmt.Errorf("%s is not writable", db.file)
	}
	empty := false
	if fi, err := os.Stat(db.file); err == nil && fi.Size() == 0 {
		empty = true
	}
	if err := db.setup(true, empty); err != nil {
		// Leave a damaged file exactly as found: closing would otherwise
		// checkpoint its WAL into it.
		_ = guardOOM(func() error {
			_, err := conn.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true)
			return err
		})
		db.closeConn()
		return err
	}
	// The driver creates -wal and -shm with 0666 less the umask; give them
	// the main file's permissions, as SQLite's own unix VFS does.
	if main, err := os.Stat(db.file); err == nil {
		for _, sfx := range []string{"-wal", "-shm"} {
			if side, err := os.Stat(db.file + sfx); err == nil && side.Mode().Perm() != main.Mode().Perm() {
				_ = os.Chmod(db.file+sfx, main.Mode().Perm())
			}
		}
	}
	return nil
}

// setup applies connection settings, checks integrity and migrates.
func (db *DB) setup(onDisk, empty bool) error {
	return guardOOM(func() error {
		c := db.conn
		if err := c.BusyTimeout(db.opts.BusyTimeout); err != nil {
			return err
		}
		// Chosen once, on an empty file, before anything writes its
		// header (on an existing file the pragma may write page 1, which a
		// damaged file must not get): INCREMENTAL lets expiry give space
		// back to the file system.
		if empty {
			if err := c.Exec("PRAGMA auto_vacuum=INCREMENTAL"); err != nil {
				return err
			}
		}
		if onDisk {
			mode, err := pragmaText(c, "PRAGMA journal_mode=WAL")
			if err != nil {
				return err
			}
			if mode != "wal" {
				db.log.Warn("database cannot use WAL mode; using a rollback journal", "path", db.file, "journal_mode", mode)
			}
		}
		for _, p := range []string{
			"PRAGMA synchronous=NORMAL",
			"PRAGMA foreign_keys=OFF",
			// Bounds the WAL file after a burst; it is reused otherwise.
			"PRAGMA journal_size_limit=67108864",
		} {
			if err := c.Exec(p); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		if onDisk && !db.opts.SkipQuickCheck {
			if err := quickCheck(c); err != nil {
				return err
			}
		}
		return migrate(c)
	})
}

func quickCheck(c *sqlite3.Conn) error {
	s, _, err := c.Prepare("PRAGMA quick_check(5)")
	if err != nil {
		return err
	}
	defer s.Close()
	var problems []string
	for s.Step() {
		problems = append(problems, s.ColumnText(0))
	}
	if err := s.Err(); err != nil {
		return err
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return damaged("integrity check failed: %s", strings.Join(problems, "; "))
}

func pragmaText(c *sqlite3.Conn, sql string) (string, error) {
	s, _, err := c.Prepare(sql)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var v string
	if s.Step() {
		v = s.ColumnText(0)
	}
	return v, s.Err()
}

func pragmaInt(c *sqlite3.Conn, sql string) (int64, error) {
	s, _, err := c.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var v int64
	if s.Step() {
		v = s.ColumnInt64(0)
	}
	return v, s.Err()
}

// moveAside renames file (and its -wal/-shm/-journal companions, so the
// moved copy stays openable for a post-mortem) to file.corrupt-<unix time>.
func moveAside(file string) (string, error) {
	base := file + ".corrupt-" + strconv.FormatInt(time.Now().Unix(), 10)
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 1000 {
			return "", fmt.Errorf("no free name for %s", base)
		}
		dst = base + "." + strconv.Itoa(i)
	}
	if err := os.Rename(file, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	for _, sfx := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Rename(file+sfx, dst+sfx); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// A stale WAL left beside a fresh database would be replayed
			// into it; remove it if it cannot be moved.
			if rerr := os.Remove(file + sfx); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return dst, fmt.Errorf("move %s aside: %w", file+sfx, err)
			}
		}
	}
	return dst, nil
}

// Close flushes buffered events, stops the background flusher and closes
// the database. Rows accepted by AddAsync before Close are written unless
// the write itself fails (that is returned and logged). Close is
// idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeMu.Lock()
		db.closed = true
		db.closeMu.Unlock()
		close(db.done)
		db.wg.Wait()
		errs := []error{db.flushAll(context.Background(), true)}
		db.sem <- struct{}{}
		errs = append(errs, db.closeConn())
		<-db.sem
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// closeConn closes the statements and the connection. Caller holds sem or
// is the only user.
func (db *DB) closeConn() error {
	if db.conn == nil {
		return nil
	}
	return guardOOM(func() error {
		var errs []error
		for k, s := range db.stmts {
			errs = append(errs, s.Close())
			delete(db.stmts, k)
		}
		errs = append(errs, db.conn.Close())
		db.conn = nil
		return errors.Join(errs...)
	})
}

// acquire takes the connection lock, giving up when ctx is done.
func (db *DB) acquire(ctx context.Context) error {
	select {
	case db.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case db.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) release() { <-db.sem }

// withConn runs fn holding the connection lock, with ctx able to interrupt
// SQLite, and turns an out-of-memory panic into ErrNoMemory.
func (db *DB) withConn(ctx context.Context, fn func(c *sqlite3.Conn) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.acquire(ctx); err != nil {
		return err
	}
	defer db.release()
	if db.conn == nil {
		return ErrClosed
	}
	db.conn.SetInterrupt(ctx)
	defer func() {
		if r := recover(); r != nil {
			db.resetAfterPanic()
			if !isOOM(r) {
				panic(r)
			}
			err = ErrNoMemory
			return
		}
		db.conn.SetInterrupt(context.Background())
		if err != nil && sqliteCode(err) == sqlite3.INTERRUPT && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}()
	return fn(db.conn)
}

// resetAfterPanic puts the connection back in a usable state after a panic
// unwound through it: no statement mid-step, no open transaction.
func (db *DB) resetAfterPanic() {
	defer func() { _ = recover() }() // out of memory again: nothing more to do
	db.conn.SetInterrupt(context.Background())
	for _, s := range db.stmts {
		_ = s.Reset()
		_ = s.ClearBindings()
	}
	if !db.conn.GetAutocommit() {
		_ = db.conn.Exec("ROLLBACK")
	}
	_ = db.conn.ReleaseMemory()
}

const oomMessage = "sqlite3: out of memory"

func isOOM(r any) bool {
	e, ok := r.(error)
	return ok && e.Error() == oomMessage
}

// guardOOM runs fn, turning the driver's out-of-memory panic into
// ErrNoMemory; other panics propagate.
func guardOOM(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if !isOOM(r) {
				panic(r)
			}
			err = ErrNoMemory
		}
	}()
	return fn()
}

func sqliteCode(err error) sqlite3.ErrorCode {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	var code sqlite3.ErrorCode
	if errors.As(err, &code) {
		return code
	}
	var xcode sqlite3.ExtendedErrorCode
	if errors.As(err, &xcode) {
		return xcode.Code()
	}
	return 0
}

// stmt returns a cached prepared statement. Caller holds sem.
func (db *DB) stmt(sql string) (*sqlite3.Stmt, error) {
	if s, ok := db.stmts[sql]; ok {
		return s, nil
	}
	s, _, err := db.conn.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("store: empty statement %q", sql)
	}
	db.stmts[sql] = s
	return s, nil
}

// bind binds args in order. nil binds NULL; a non-nil empty []byte binds
// an empty blob.
func bind(s *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = s.BindNull(i + 1)
		case int64:
			err = s.BindInt64(i+1, v)
		case int:
			err = s.BindInt64(i+1, int64(v))
		case uint64:
			err = s.BindInt64(i+1, int64(v))
		case string:
			err = s.BindText(i+1, v)
		case []byte:
			if v == nil {
				v = []byte{}
			}
			err = s.BindBlob(i+1, v)
		default:
			err = fmt.Errorf("store: cannot bind %T", a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// exec runs a cached statement to completion and returns the rows changed.
func (db *DB) exec(sql string, args ...any) (int64, error) {
	s, err := db.stmt(sql)
	if err != nil {
		return 0, err
	}
	defer s.ClearBindings()
	if err := bind(s, args...); err != nil {
		return 0, err
	}
	if err := s.Exec(); err != nil {
		return 0, err
	}
	return db.conn.Changes(), nil
}

// queryRow runs a cached statement and hands its first row (if any) to
// scan. It reports whether there was a row.
func (db *DB) queryRow(sql string, scan func(s *sqlite3.Stmt), args ...any) (bool, error) {
	s, err := db.stmt(sql)
	if err != nil {
		return false, err
	}
	defer s.ClearBindings()
	defer s.Reset()
	if err := bind(s, args...); err != nil {
		return false, err
	}
	if !s.Step() {
		return false, s.Err()
	}
	scan(s)
	return true, nil
}

// query runs a cached statement and calls row for each result row until it
// returns false.
func (db *DB) query(sql string, row func(s *sqlite3.Stmt) bool, args ...any) error {
	s, err := db.stmt(sql)
	if err != nil {
		return err
	}
	defer s.ClearBindings()
	defer s.Reset()
	if err := bind(s, args...); err != nil {
		return err
	}
	for s.Step() {
		if !row(s) {
			return nil
		}
	}
	return s.Err()
}

// begin starts a write transaction. IMMEDIATE takes the write lock up
// front, so a second process waits in the busy handler instead of failing
// with SQLITE_BUSY when it later upgrades a read lock.
func begin(c *sqlite3.Conn) error { return c.Exec("BEGIN IMMEDIATE") }

// inTx runs fn in a write transaction, committing when it returns nil and
// rolling back otherwise (also when fn panics). Caller holds sem.
func (db *DB) inTx(fn func() error) (err error) {
	if err := begin(db.conn); err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed || db.conn.GetAutocommit() {
			return
		}
		// ROLLBACK must run even when ctx interrupted the transaction.
		old := db.conn.SetInterrupt(context.Background())
		rerr := db.conn.Exec("ROLLBACK")
		db.conn.SetInterrupt(old)
		if err == nil && rerr != nil {
			err = rerr
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	if err := db.conn.Exec("COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}
