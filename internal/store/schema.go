package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// applicationID marks a SQLite file as a gosquery store ("gsqy"), so a
// stray SQLite file at --database_path is recognised as not ours.
const applicationID = 0x67737179

// migrations[i] moves the schema from version i to i+1. Append only; never
// edit a released step.
//
// Per-subscriber event tables (ev_<id>, evb_<id>) are created on demand by
// DB.Events from eventTablesSQL, whose shape belongs to the same version.
var migrations = []string{
	// 1: key/value domains and the event subscriber registry.
	`CREATE TABLE kv(
		domain TEXT NOT NULL,
		key    TEXT NOT NULL,
		value  BLOB NOT NULL,
		PRIMARY KEY(domain, key)
	) WITHOUT ROWID;
	CREATE TABLE event_subscribers(
		id       INTEGER PRIMARY KEY,
		name     TEXT NOT NULL UNIQUE,
		last_eid INTEGER NOT NULL DEFAULT 0
	);`,
}

// schemaVersion is the schema this build writes.
var schemaVersion = len(migrations)

// migrate brings an empty or older store to schemaVersion and checks that
// the result looks like ours. Anything else is damage: the caller moves the
// file aside.
func migrate(c *sqlite3.Conn) error {
	appID, err := pragmaInt(c, "PRAGMA application_id")
	if err != nil {
		return err
	}
	tables, err := pragmaInt(c, "SELECT count(*) FROM sqlite_schema")
	if err != nil {
		return err
	}
	switch {
	case appID == 0 && tables == 0:
		// A new (empty) file; setup already chose auto_vacuum.
	case appID != applicationID:
		return damaged("not a gosquery store (application_id %#x, %d schema objects)", appID, tables)
	}

	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done && !c.GetAutocommit() {
			_ = c.Exec("ROLLBACK")
		}
	}()
	// Re-read inside the write lock: another process may have migrated
	// meanwhile.
	appID, err = pragmaInt(c, "PRAGMA application_id")
	if err != nil {
		return err
	}
	version := 0
	if appID == applicationID {
		v, err := readVersion(c)
		if err != nil {
			return err
		}
		version = v
	} else if appID != 0 {
		return damaged("not a gosquery store (application_id %#x)", appID)
	}
	if version > schemaVersion {
		return damaged("schema version %d is newer than this build's %d", version, schemaVersion)
	}
	if version < schemaVersion {
		if version == 0 {
			if err := c.Exec(fmt.Sprintf("PRAGMA application_id=%d", applicationID)); err != nil {
				return err
			}
			if err := c.Exec("CREATE TABLE schema_version(version INTEGER NOT NULL, updated INTEGER NOT NULL)"); err != nil {
				return err
			}
		}
		for v := version; v < schemaVersion; v++ {
			if err := c.Exec(migrations[v]); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
			}
		}
		if err := c.Exec("DELETE FROM schema_version"); err != nil {
			return err
		}
		if err := c.Exec(fmt.Sprintf("INSERT INTO schema_version(version, updated) VALUES(%d, %d)", schemaVersion, time.Now().Unix())); err != nil {
			return err
		}
	}
	if err := verifySchema(c); err != nil {
		return err
	}
	if err := c.Exec("COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}

func readVersion(c *sqlite3.Conn) (int, error) {
	s, _, err := c.Prepare("SELECT version FROM schema_version")
	if err != nil {
		if sqliteCode(err) == sqlite3.ERROR {
			return 0, damaged("gosquery store without a usable schema_version table: %v", err)
		}
		return 0, err
	}
	defer s.Close()
	var versions []int
	for s.Step() {
		versions = append(versions, s.ColumnInt(0))
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	if len(versions) != 1 {
		return 0, damaged("schema_version has %d rows", len(versions))
	}
	return versions[0], nil
}

// verifySchema prepares the statements the store relies on: a table or
// column that is missing or renamed shows up as a prepare error here rather
// than on the first write hours later.
func verifySchema(c *sqlite3.Conn) error {
	checks := []string{
		"SELECT domain, key, value FROM kv WHERE domain = ? AND key = ?",
		"SELECT id, name, last_eid FROM event_subscribers WHERE name = ?",
	}
	s, _, err := c.Prepare("SELECT id FROM event_subscribers")
	if err != nil {
		return damaged("schema check: %v", err)
	}
	var ids []int64
	for s.Step() {
		ids = append(ids, s.ColumnInt64(0))
	}
	err = s.Err()
	s.Close()
	if err != nil {
		return err
	}
	for _, id := range ids {
		t := eventTables(id)
		// Both tables are created in the transaction that registers the
		// subscriber; recreate rather than discard the store if one is
		// missing anyway.
		if err := c.Exec(t.createSQL()); err != nil {
			return err
		}
		checks = append(checks,
			fmt.Sprintf("SELECT eid, time, data FROM %s WHERE eid > ? AND time >= ?", t.rows),
			fmt.Sprintf("SELECT time, n, lo, hi FROM %s WHERE time >= ?", t.batches))
	}
	for _, q := range checks {
		s, _, err := c.Prepare(q)
		if err != nil {
			var se *sqlite3.Error
			if errors.As(err, &se) && se.Code() == sqlite3.ERROR {
				return damaged("schema check %q: %v", q, err)
			}
			return err
		}
		s.Close()
	}
	return nil
}
