package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// storeTestLog records log records so tests can check that a moved-aside
// store was reported.
type storeTestLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *storeTestLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *storeTestLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *storeTestLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *storeTestLog) WithGroup(string) slog.Handler      { return l }

func (l *storeTestLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= slog.LevelError {
			s := r.Message
			r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
			out = append(out, s)
		}
	}
	return out
}

func storeTestOpen(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storeTestPragma reads one value through the store's own connection.
func storeTestPragma(t testing.TB, db *DB, sql string) string {
	t.Helper()
	var v string
	err := db.withConn(context.Background(), func(c *sqlite3.Conn) error {
		var err error
		v, err = pragmaText(c, sql)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestResolvePath(t *testing.T) {
	dir := t.TempDir()
	existingDir := filepath.Join(dir, "existing")
	existingFile := filepath.Join(dir, "state.bin")
	sqliteDir := filepath.Join(dir, "dir.sqlite")
	for _, d := range []string{existingDir, sqliteDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(existingFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{"", ""},
		{existingDir, filepath.Join(existingDir, FileName)},
		{existingDir + "/", filepath.Join(existingDir, FileName)},
		{sqliteDir, filepath.Join(sqliteDir, FileName)},
		{existingFile, existingFile},
		{filepath.Join(dir, "osquery.db"), filepath.Join(dir, "osquery.db", FileName)},
		{filepath.Join(dir, "noext"), filepath.Join(dir, "noext", FileName)},
		{filepath.Join(dir, "new") + "/", filepath.Join(dir, "new", FileName)},
		{filepath.Join(dir, "a.sqlite"), filepath.Join(dir, "a.sqlite")},
		{filepath.Join(dir, "a.SQLITE3"), filepath.Join(dir, "a.SQLITE3")},
		{filepath.Join(dir, "x", "..", "b.sqlitedb"), filepath.Join(dir, "b.sqlitedb")},
	}
	for _, c := range cases {
		got, err := ResolvePath(c.in)
		if err != nil || got != c.want {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	t.Chdir(dir)
	for in, want := range map[string]string{
		"file:x.sqlite":  filepath.Join(dir, "file:x.sqlite"),
		"rel/osquery.db": filepath.Join(dir, "rel", "osquery.db", FileName),
		".":              filepath.Join(dir, FileName),
	} {
		if got, err := ResolvePath(in); got != want || err != nil {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ResolvePath(filepath.Join(existingFile, "sub")); err == nil {
		t.Errorf("ResolvePath under a regular file: no error")
	}
}

func TestOpenCreatesPrivateWALStore(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "var", "osquery", "osquery.db")
	db := storeTestOpen(t, path)
	want := filepath.Join(path, FileName)
	if db.Path() != want {
		t.Fatalf("Path() = %q, want %q", db.Path(), want)
	}
	for _, d := range []string{filepath.Join(root, "var"), path} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v err %v, want 0700 dir", d, fi.Mode(), err)
		}
	}
	if err := db.Put(context.Background(), DomainConfigurations, "nodeKey", []byte("k")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{want, want + "-wal", want + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	checks := map[string]string{
		"PRAGMA journal_mode":                 "wal",
		"PRAGMA synchronous":                  "1", // NORMAL
		"PRAGMA foreign_keys":                 "0",
		"PRAGMA auto_vacuum":                  "2", // INCREMENTAL
		"PRAGMA application_id":               fmt.Sprint(applicationID),
		"SELECT version FROM schema_version":  fmt.Sprint(schemaVersion),
		"SELECT count(*) FROM schema_version": "1",
		"PRAGMA busy_timeout":                 "5000",
	}
	for q, w := range checks {
		if got := storeTestPragma(t, db, q); got != w {
			t.Errorf("%s = %q, want %q", q, got, w)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, "")
	if db.Path() != "" {
		t.Fatalf("Path() = %q", db.Path())
	}
	if err := db.Put(ctx, DomainQueries, "q", []byte("v")); err != nil {
		t.Fatal(err)
	}
	es, err := db.Events("process_events")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.Add(ctx, 10, [][]byte{[]byte("a")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Ephemeral: a new in-memory store starts empty.
	db2 := storeTestOpen(t, "")
	if _, ok, err := db2.Get(ctx, DomainQueries, "q"); ok || err != nil {
		t.Fatalf("fresh in-memory store has q: %v %v", ok, err)
	}
}

func TestClosedStore(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	es, err := db.Events("socket_events")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := db.Get(ctx, DomainQueries, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := es.AddAsync(1, [][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddAsync after Close: %v", err)
	}
	if _, err := es.Add(ctx, 1, [][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
	if _, err := db.Events("other"); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close: %v", err)
	}
}

// TestRestart writes every kind of state, closes, reopens and reads it
// back; event ids continue where they stopped.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(DomainQueries, "pack_x_q", []byte(`[{"a":"1"}]`)); err != nil {
			return err
		}
		return tx.Put(DomainQueries, "pack_x_qcounter", []byte("7"))
	}); err != nil {
		t.Fatal(err)
	}
	es, err := db.Events("process_events")
	if err != nil {
		t.Fatal(err)
	}
	first, err := es.Add(ctx, 100, [][]byte{[]byte("r1"), []byte("r2")})
	if err != nil || first != 1 {
		t.Fatalf("Add = %d, %v", first, err)
	}
	if err := es.AddAsync(101, [][]byte{[]byte("r3")}); err != nil {
		t.Fatal(err)
	}
	// Close must write the queued row.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = storeTestOpen(t, dir)
	v, ok, err := db.Get(ctx, DomainQueries, "pack_x_qcounter")
	if err != nil || !ok || string(v) != "7" {
		t.Fatalf("counter after restart = %q %v %v", v, ok, err)
	}
	es, err = db.Events("process_events")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := es.Scan(ctx, -1, -1, 0, func(eid uint64, tm int64, row []byte) bool {
		got = append(got, fmt.Sprintf("%d@%d=%s", eid, tm, row))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := "1@100=r1 2@100=r2 3@101=r3"; strings.Join(got, " ") != want {
		t.Fatalf("rows after restart: %v, want %s", got, want)
	}
	// Ids never restart, even once every row has expired.
	if _, err := es.Expire(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := es.LimitBatches(ctx, 0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = storeTestOpen(t, dir)
	es, _ = db.Events("process_events")
	first, err = es.Add(ctx, 200, [][]byte{[]byte("r4")})
	if err != nil || first != 4 {
		t.Fatalf("eid after restart = %d, %v; want 4", first, err)
	}
}

// storeTestDamage opens a store whose file was damaged by prepare and
// checks it was moved aside, logged, and replaced by a working store.
func storeTestDamage(t *testing.T, prepare func(t *testing.T, file string)) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, FileName)
	prepare(t, file)
	logs := &storeTestLog{}
	db, err := Open(dir, slog.New(logs))
	if err != nil {
		t.Fatalf("Open over a damaged store: %v", err)
	}
	defer db.Close()
	moved, _ := filepath.Glob(file + ".corrupt-*")
	var main []string
	for _, m := range moved {
		if !strings.HasSuffix(m, "-wal") && !strings.HasSuffix(m, "-shm") {
			main = append(main, m)
		}
	}
	if len(main) != 1 {
		t.Fatalf("moved aside: %v, want one <file>.corrupt-<time>", moved)
	}
	if errs := logs.errors(); len(errs) != 1 || !strings.Contains(errs[0], "moved") {
		t.Errorf("logged errors: %q", errs)
	} else {
		t.Logf("logged: %s", errs[0])
	}
	ctx := context.Background()
	if err := db.Put(ctx, DomainConfigurations, "nodeKey", []byte("fresh")); err != nil {
		t.Fatalf("fresh store: %v", err)
	}
	if v, ok, err := db.Get(ctx, DomainConfigurations, "nodeKey"); string(v) != "fresh" || !ok || err != nil {
		t.Fatalf("fresh store Get: %q %v %v", v, ok, err)
	}
	if q := storeTestPragma(t, db, "PRAGMA quick_check"); q != "ok" {
		t.Fatalf("fresh store quick_check: %s", q)
	}
	// A second open of the fresh store moves nothing more.
	db.Close()
	db2, err := Open(dir, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
	if again, _ := filepath.Glob(file + ".corrupt-*"); len(again) != len(moved) {
		t.Fatalf("reopen moved more files: %v", again)
	}
}

// storeTestFilled writes a store with enough data to span many pages.
func storeTestFilled(t *testing.T, file string) {
	t.Helper()
	db, err := OpenWithOptions(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	es, err := db.Events("process_events")
	if err != nil {
		t.Fatal(err)
	}
	row := bytes.Repeat([]byte("x"), 300)
	for i := range 50 {
		rows := make([][]byte, 100)
		for j := range rows {
			rows[j] = row
		}
		if _, err := es.Add(ctx, int64(i), rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDamaged(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			junk := bytes.Repeat([]byte("this is not a database\x00\xff"), 400)
			if err := os.WriteFile(file, junk, 0o600); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("truncated_header", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			storeTestFilled(t, file)
			if err := os.Truncate(file, 60); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("truncated_half", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			storeTestFilled(t, file)
			fi, _ := os.Stat(file)
			if err := os.Truncate(file, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("overwritten_pages", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			storeTestFilled(t, file)
			f, err := os.OpenFile(file, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the header, scribble over the b-tree pages.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 16*4096), 4096); err != nil {
				t.Fatal(err)
			}
			f.Close()
		})
	})
	t.Run("directory", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			if err := os.MkdirAll(filepath.Join(file, "inner"), 0o700); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("foreign_sqlite", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			c, err := sqlite3.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Exec("CREATE TABLE users(name TEXT); INSERT INTO users VALUES('x')"); err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	})
	t.Run("newer_schema", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			storeTestFilled(t, file)
			c, err := sqlite3.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Exec(fmt.Sprintf("UPDATE schema_version SET version = %d", schemaVersion+1)); err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	})
	t.Run("missing_table", func(t *testing.T) {
		storeTestDamage(t, func(t *testing.T, file string) {
			storeTestFilled(t, file)
			c, err := sqlite3.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Exec("DROP TABLE kv"); err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	})
}

// TestOpenDamagedKeepsWAL checks that a damaged file's WAL goes with it: a
// stale WAL left beside the fresh file would be replayed into it, and the
// pair stays readable for a post-mortem.
func TestOpenDamagedKeepsWAL(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	storeTestFilled(t, filepath.Join(src, FileName))
	db := storeTestOpen(t, src)
	if err := db.Put(ctx, DomainConfigurations, "nodeKey", []byte("in the wal")); err != nil {
		t.Fatal(err)
	}
	// Copy the files while the store is open, so the WAL still holds the
	// write (Close would checkpoint and delete it).
	dir := t.TempDir()
	file := filepath.Join(dir, FileName)
	for _, sfx := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(src, FileName) + sfx)
		if err != nil {
			t.Fatal(err)
		}
		if sfx == "" {
			// Scribble over event pages (checkpointed into the main
			// file, not in the WAL).
			for i := 8 * 4096; i < 24*4096 && i < len(b); i++ {
				b[i] = 0xA5
			}
		}
		if err := os.WriteFile(file+sfx, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	walSize := func(f string) int64 {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	want := walSize(file + "-wal")
	fresh := storeTestOpen(t, dir)
	moved, _ := filepath.Glob(file + ".corrupt-*-wal")
	if len(moved) != 1 || walSize(moved[0]) != want {
		t.Fatalf("WAL not moved with the file: %v (want size %d, got %d)", moved, want, walSize(moved[0]))
	}
	if _, ok, err := fresh.Get(ctx, DomainConfigurations, "nodeKey"); ok || err != nil {
		t.Fatalf("fresh store replayed the old WAL: %v %v", ok, err)
	}
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.sqlite")
	for _, sfx := range []string{"", "-wal", "-shm"} {
		if err := os.WriteFile(file+sfx, []byte(sfx), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dst, err := moveAside(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, sfx := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(dst + sfx); err != nil || string(b) != sfx {
			t.Errorf("%s: %q %v", dst+sfx, b, err)
		}
		if _, err := os.Stat(file + sfx); err == nil {
			t.Errorf("%s still there", file+sfx)
		}
	}
	// Same second again: a distinct name, nothing overwritten.
	if err := os.WriteFile(file, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst2, err := moveAside(file)
	if err != nil || dst2 == dst {
		t.Fatalf("second move: %q %v (first %q)", dst2, err, dst)
	}
	if b, _ := os.ReadFile(dst); string(b) != "" {
		t.Fatalf("first moved file overwritten: %q", b)
	}
}

func TestOpenUnwritable(t *testing.T) {
	// Not about the file's contents: a clear error, nothing moved, no
	// fresh store somewhere else.
	cases := map[string]string{
		"under /proc":         "/proc/self/gosquery-store-test/osquery.db",
		"under a file":        filepath.Join(t.TempDir(), "file") + "/db/",
		"sysfs (read-only)":   "/sys/gosquery-store-test.sqlite",
		"file in a /proc dir": "/proc/self/gosquery.sqlite",
	}
	if err := os.WriteFile(strings.TrimSuffix(cases["under a file"], "/db/"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		cases["read-only dir"] = filepath.Join(ro, "state.sqlite")
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			db, err := Open(path, nil)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("error without context: %v", err)
			}
			t.Logf("Open(%q): %v", path, err)
		})
	}
}

// TestOpenSymlink: a linked directory works; a linked file is a clear
// error (the driver opens with O_NOFOLLOW) and is left alone.
func TestOpenSymlink(t *testing.T) {
	target := t.TempDir()
	links := t.TempDir()
	dirLink := filepath.Join(links, "osquery.db")
	must(t, os.Symlink(target, dirLink))
	db := storeTestOpen(t, dirLink)
	must(t, db.Put(context.Background(), DomainLogs, "k", nil))
	must(t, db.Close())
	if _, err := os.Stat(filepath.Join(target, FileName)); err != nil {
		t.Fatalf("store not in the linked directory: %v", err)
	}
	fileLink := filepath.Join(links, "state.sqlite")
	must(t, os.Symlink(filepath.Join(target, FileName), fileLink))
	if db, err := Open(fileLink, nil); err == nil {
		db.Close()
		t.Fatal("Open through a file symlink succeeded")
	} else if !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("unclear error: %v", err)
	}
	if fi, err := os.Lstat(fileLink); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link was touched: %v", err)
	}
}

// TestOpenBusyIsNotDamage: a store locked by another connection past the
// busy timeout is an error, never a reason to move the file aside.
func TestOpenBusyIsNotDamage(t *testing.T) {
	dir := t.TempDir()
	storeTestOpen(t, dir).Close()
	file := filepath.Join(dir, FileName)
	c, err := sqlite3.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO kv VALUES('logs','x',x'00')"); err != nil {
		t.Fatal(err)
	}
	db, err := OpenWithOptions(dir, Options{BusyTimeout: 100 * time.Millisecond})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded while another connection holds an exclusive lock")
	}
	t.Logf("busy open: %v", err)
	if moved, _ := filepath.Glob(file + ".corrupt-*"); len(moved) != 0 {
		t.Fatalf("a locked store was moved aside: %v", moved)
	}
	if err := c.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

// TestTwoHandlesSameFile: two stores on one file (as two processes would
// have) write concurrently; nothing is lost and event ids stay unique.
func TestTwoHandlesSameFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := storeTestOpen(t, dir)
	b := storeTestOpen(t, dir)
	const n = 200
	var wg sync.WaitGroup
	for i, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es, err := db.Events("process_events")
			if err != nil {
				t.Error(err)
				return
			}
			for j := range n {
				if _, err := es.Add(ctx, int64(j), [][]byte{fmt.Appendf(nil, "%d-%d", i, j)}); err != nil {
					t.Error(err)
					return
				}
				if err := db.Put(ctx, DomainQueries, fmt.Sprintf("h%d-%03d", i, j), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	es, _ := a.Events("process_events")
	seen := map[uint64]bool{}
	rows := map[string]bool{}
	if err := es.Scan(ctx, -1, -1, 0, func(eid uint64, _ int64, row []byte) bool {
		if seen[eid] {
			t.Errorf("eid %d twice", eid)
		}
		seen[eid] = true
		rows[string(row)] = true
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2*n {
		t.Fatalf("%d distinct rows, want %d", len(rows), 2*n)
	}
	keys := 0
	if err := b.Scan(ctx, DomainQueries, "h", func(string, []byte) error { keys++; return nil }); err != nil {
		t.Fatal(err)
	}
	if keys != 2*n {
		t.Fatalf("%d keys, want %d", keys, 2*n)
	}
	if q := storeTestPragma(t, a, "PRAGMA quick_check"); q != "ok" {
		t.Fatal(q)
	}
}

// TestOutOfMemoryRecovered: the driver panics when SQLite's memory budget
// is exhausted; the store turns that into ErrNoMemory and keeps working.
func TestOutOfMemoryRecovered(t *testing.T) {
	ctx := context.Background()
	db, err := OpenWithOptions(t.TempDir(), Options{MaxMemory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	huge := make([]byte, 64<<20)
	err = db.Put(ctx, DomainCarves, "huge", huge)
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Put of 64 MiB under a 16 MiB budget: %v, want ErrNoMemory", err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(DomainCarves, "small", []byte("s")); err != nil {
			return err
		}
		return tx.Put(DomainCarves, "huge", huge)
	})
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Update: %v, want ErrNoMemory", err)
	}
	// The transaction was rolled back and the connection works.
	if _, ok, err := db.Get(ctx, DomainCarves, "small"); ok || err != nil {
		t.Fatalf("half of a failed Update is visible: %v %v", ok, err)
	}
	if err := db.Put(ctx, DomainCarves, "after", []byte("ok")); err != nil {
		t.Fatalf("Put after OOM: %v", err)
	}
	if v, _, err := db.Get(ctx, DomainCarves, "after"); string(v) != "ok" || err != nil {
		t.Fatalf("Get after OOM: %q %v", v, err)
	}
}

func TestContextCancel(t *testing.T) {
	db := storeTestOpen(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Put(ctx, DomainLogs, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled ctx: %v", err)
	}
	// Waiting for the lock honours the context.
	hold := make(chan struct{})
	release := make(chan struct{})
	go db.Update(context.Background(), func(tx *Tx) error {
		close(hold)
		<-release
		return nil
	})
	<-hold
	tctx, tcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer tcancel()
	if _, _, err := db.Get(tctx, DomainLogs, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get while locked: %v", err)
	}
	close(release)
	if err := db.Put(context.Background(), DomainLogs, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// TestMigrate opens a store written by an older schema with a newer build:
// the new step runs once, data stays.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := storeTestOpen(t, dir)
	must(t, db.Put(ctx, DomainConfigurations, "nodeKey", []byte("k")))
	es, _ := db.Events("process_events")
	_, err := es.Add(ctx, 1, [][]byte{[]byte("r")})
	must(t, err)
	must(t, db.Close())

	oldMigrations, oldVersion := migrations, schemaVersion
	t.Cleanup(func() { migrations, schemaVersion = oldMigrations, oldVersion })
	migrations = append(slices.Clone(migrations), "CREATE TABLE extra(x); INSERT INTO extra VALUES('migrated')")
	schemaVersion = len(migrations)

	db = storeTestOpen(t, dir)
	if v := storeTestPragma(t, db, "SELECT version FROM schema_version"); v != fmt.Sprint(oldVersion+1) {
		t.Fatalf("version after migration = %s", v)
	}
	if v := storeTestPragma(t, db, "SELECT group_concat(x) FROM extra"); v != "migrated" {
		t.Fatalf("migration ran %q", v)
	}
	storeTestExpect(t, db, DomainConfigurations, "nodeKey", "k")
	must(t, db.Close())
	// Reopening does not run it again.
	db = storeTestOpen(t, dir)
	if v := storeTestPragma(t, db, "SELECT group_concat(x) FROM extra"); v != "migrated" {
		t.Fatalf("migration ran twice: %q", v)
	}
	if moved, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(moved) != 0 {
		t.Fatalf("moved aside: %v", moved)
	}
}

// TestOpenEmptyFile: an existing empty file (e.g. touched by an installer)
// is an empty database, not damage.
func TestOpenEmptyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state.sqlite")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	db := storeTestOpen(t, file)
	if db.Path() != file {
		t.Fatalf("Path() = %s", db.Path())
	}
	must(t, db.Put(context.Background(), DomainLogs, "k", nil))
	if moved, _ := filepath.Glob(file + ".corrupt-*"); len(moved) != 0 {
		t.Fatalf("moved aside: %v", moved)
	}
	if v := storeTestPragma(t, db, "PRAGMA auto_vacuum"); v != "2" {
		t.Fatalf("auto_vacuum = %s", v)
	}
}
