package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ncruces/go-sqlite3"
)

// osquery's key/value domains (RocksDB column families).
const (
	DomainConfigurations     = "configurations"
	DomainQueries            = "queries"
	DomainEvents             = "events"
	DomainLogs               = "logs"
	DomainCarves             = "carves"
	DomainDistributed        = "distributed"
	DomainDistributedRunning = "distributed_running"
	DomainQueryPerformance   = "query_performance"
)

var domains = []string{
	DomainConfigurations, DomainQueries, DomainEvents, DomainLogs,
	DomainCarves, DomainDistributed, DomainDistributedRunning,
	DomainQueryPerformance,
}

// Domains lists the key/value domains, in osquery's order.
func Domains() []string { return slices.Clone(domains) }

func checkDomain(domain string) error {
	if slices.Contains(domains, domain) {
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnknownDomain, domain)
}

// Pages of a key/value scan: the lock is released between pages so the
// callback may use the DB.
const (
	kvPageRows  = 256
	kvPageBytes = 4 << 20
)

// Get returns the value stored at domain/key and whether there was one.
func (db *DB) Get(ctx context.Context, domain, key string) ([]byte, bool, error) {
	if err := checkDomain(domain); err != nil {
		return nil, false, err
	}
	var v []byte
	var ok bool
	err := db.withConn(ctx, func(*sqlite3.Conn) error {
		var err error
		v, ok, err = db.kvGet(domain, key)
		return err
	})
	return v, ok, err
}

// Put stores value at domain/key, replacing what was there. A nil value is
// stored as empty.
func (db *DB) Put(ctx context.Context, domain, key string, value []byte) error {
	if err := checkDomain(domain); err != nil {
		return err
	}
	return db.withConn(ctx, func(*sqlite3.Conn) error { return db.kvPut(domain, key, value) })
}

// Delete removes domain/key; a missing key is not an error.
func (db *DB) Delete(ctx context.Context, domain, key string) error {
	if err := checkDomain(domain); err != nil {
		return err
	}
	return db.withConn(ctx, func(*sqlite3.Conn) error { return db.kvDelete(domain, key) })
}

// DeletePrefix removes every key of domain that starts with prefix ("" is
// the whole domain) and returns how many were removed.
func (db *DB) DeletePrefix(ctx context.Context, domain, prefix string) (int, error) {
	if err := checkDomain(domain); err != nil {
		return 0, err
	}
	var n int64
	err := db.withConn(ctx, func(*sqlite3.Conn) error {
		var err error
		n, err = db.kvDeletePrefix(domain, prefix)
		return err
	})
	return int(n), err
}

// Scan calls fn for every key of domain starting with prefix, in byte
// order of the keys. Rows are read in pages and fn runs without the lock,
// so it may call other DB methods; keys written meanwhile after the
// current one are seen, like a RocksDB iterator without a snapshot would.
// An error from fn ends the scan and is returned, except ErrStopScan,
// which ends it with nil. value belongs to fn.
func (db *DB) Scan(ctx context.Context, domain, prefix string, fn func(key string, value []byte) error) error {
	if err := checkDomain(domain); err != nil {
		return err
	}
	return scanPages(func(after *string) (page []kvEntry, more bool, err error) {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		err = db.withConn(ctx, func(*sqlite3.Conn) error {
			page, more, err = db.kvPage(domain, prefix, after)
			return err
		})
		return page, more, err
	}, fn)
}

// scanPages calls fn on every entry of the pages fetch returns, each page
// fetched after the last key of the one before, until fetch says there
// are no more. ErrStopScan from fn ends it with nil.
func scanPages(fetch func(after *string) ([]kvEntry, bool, error), fn func(key string, value []byte) error) error {
	var after *string
	for {
		page, more, err := fetch(after)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e.key, e.value); err != nil {
				if errors.Is(err, ErrStopScan) {
					return nil
				}
				return err
			}
		}
		if !more {
			return nil
		}
		last := page[len(page)-1].key
		after = &last
	}
}

// Update runs fn in one write transaction: everything fn wrote through tx
// is committed together when fn returns nil, and nothing is when it
// returns an error or panics. A differential result and its counter are
// written this way, so a crash never leaves one without the other. The
// lock is held while fn runs: fn must use only tx, not the DB.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return db.withConn(ctx, func(*sqlite3.Conn) error {
		tx := &Tx{db: db}
		defer func() { tx.done = true }()
		return db.inTx(func() error { return fn(tx) })
	})
}

// Tx is a write transaction handed to the function given to DB.Update. It
// is valid only until that function returns.
type Tx struct {
	db   *DB
	done bool
}

func (tx *Tx) check(domain string) error {
	if tx.done {
		return ErrTxDone
	}
	return checkDomain(domain)
}

// Get is DB.Get inside the transaction (it sees the transaction's writes).
func (tx *Tx) Get(domain, key string) ([]byte, bool, error) {
	if err := tx.check(domain); err != nil {
		return nil, false, err
	}
	return tx.db.kvGet(domain, key)
}

// Put is DB.Put inside the transaction.
func (tx *Tx) Put(domain, key string, value []byte) error {
	if err := tx.check(domain); err != nil {
		return err
	}
	return tx.db.kvPut(domain, key, value)
}

// Delete is DB.Delete inside the transaction.
func (tx *Tx) Delete(domain, key string) error {
	if err := tx.check(domain); err != nil {
		return err
	}
	return tx.db.kvDelete(domain, key)
}

// DeletePrefix is DB.DeletePrefix inside the transaction.
func (tx *Tx) DeletePrefix(domain, prefix string) (int, error) {
	if err := tx.check(domain); err != nil {
		return 0, err
	}
	n, err := tx.db.kvDeletePrefix(domain, prefix)
	return int(n), err
}

// Scan is DB.Scan inside the transaction; fn may use tx.
func (tx *Tx) Scan(domain, prefix string, fn func(key string, value []byte) error) error {
	if err := tx.check(domain); err != nil {
		return err
	}
	return scanPages(func(after *string) ([]kvEntry, bool, error) {
		return tx.db.kvPage(domain, prefix, after)
	}, fn)
}

type kvEntry struct {
	key   string
	value []byte
}

// The kv helpers run with the lock held (inside withConn or a Tx).

func (db *DB) kvGet(domain, key string) ([]byte, bool, error) {
	var v []byte
	ok, err := db.queryRow("SELECT value FROM kv WHERE domain = ? AND key = ?",
		func(s *sqlite3.Stmt) { v = s.ColumnBlob(0, []byte{}) }, domain, key)
	if !ok {
		v = nil
	}
	return v, ok, err
}

func (db *DB) kvPut(domain, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := db.exec("INSERT OR REPLACE INTO kv(domain, key, value) VALUES(?, ?, ?)", domain, key, value)
	return err
}

func (db *DB) kvDelete(domain, key string) error {
	_, err := db.exec("DELETE FROM kv WHERE domain = ? AND key = ?", domain, key)
	return err
}

func (db *DB) kvDeletePrefix(domain, prefix string) (int64, error) {
	if end, ok := prefixEnd(prefix); ok {
		return db.exec("DELETE FROM kv WHERE domain = ? AND key >= ? AND key < ?", domain, prefix, end)
	}
	return db.exec("DELETE FROM kv WHERE domain = ? AND key >= ?", domain, prefix)
}

// kvPage reads up to one page of domain's keys with prefix, after the key
// *after (or from the start when nil). more reports that the page was cut.
func (db *DB) kvPage(domain, prefix string, after *string) (page []kvEntry, more bool, err error) {
	// Keys are TEXT with BINARY collation: SQLite compares them with
	// memcmp, which is Go's string order, so the range [prefix,
	// prefixEnd) is exactly the keys with that prefix and the primary key
	// index serves it.
	lower, op := prefix, ">="
	if after != nil && *after >= prefix {
		lower, op = *after, ">"
	}
	sql := "SELECT key, value FROM kv WHERE domain = ? AND key " + op + " ?"
	args := []any{domain, lower}
	if end, ok := prefixEnd(prefix); ok {
		sql += " AND key < ?"
		args = append(args, end)
	}
	sql += " ORDER BY key LIMIT ?"
	args = append(args, kvPageRows+1)
	size := 0
	err = db.query(sql, func(s *sqlite3.Stmt) bool {
		if len(page) == kvPageRows || (size >= kvPageBytes && len(page) > 0) {
			more = true
			return false
		}
		e := kvEntry{key: s.ColumnText(0), value: s.ColumnBlob(1, []byte{})}
		size += len(e.key) + len(e.value)
		page = append(page, e)
		return true
	}, args...)
	return page, more, err
}

// prefixEnd is the smallest string greater than every string with the
// given prefix, if there is one (there is none for "" or all-0xff).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
