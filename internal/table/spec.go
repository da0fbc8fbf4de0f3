// Package table owns the table API: how a table declares its schema (Spec,
// Column), the typed rows it emits, the Query it receives (constraints and
// used columns), and the Registry the SQL engine attaches from. It does not
// know about SQLite; internal/sqlengine adapts it.
package table

import (
	"fmt"
	"strings"
)

// Type is a column's declared SQL type, spelled as osquery spells it.
type Type uint8

// Column types, as osquery's spec DSL names them.
const (
	TypeText Type = iota + 1
	TypeInteger
	TypeBigInt
	TypeUnsignedBigInt
	TypeDouble
	TypeBlob
)

func (t Type) String() string {
	switch t {
	case TypeText:
		return "TEXT"
	case TypeInteger:
		return "INTEGER"
	case TypeBigInt:
		return "BIGINT"
	case TypeUnsignedBigInt:
		return "UNSIGNED BIGINT"
	case TypeDouble:
		return "DOUBLE"
	case TypeBlob:
		return "BLOB"
	}
	return "UNKNOWN"
}

// Numeric reports whether the type has integer or real affinity.
func (t Type) Numeric() bool {
	return t == TypeInteger || t == TypeBigInt || t == TypeUnsignedBigInt || t == TypeDouble
}

// Flag holds osquery's column options. The bit values are osquery's
// (osquery/core/sql/column.h) because they travel over the extension socket.
type Flag uint16

// Column options.
const (
	// Index columns form the primary key; constraints on them reach the table.
	Index Flag = 1
	// Required columns must be constrained, or the query fails.
	Required Flag = 2
	// Additional columns reach the table and make it generate other data.
	Additional Flag = 4
	// Optimized columns receive IN (...) lists in one call.
	Optimized Flag = 8
	// Hidden columns are left out of SELECT *.
	Hidden Flag = 16
)

// Pushed reports whether constraints on a column with these flags are handed
// to the table (the others are left for SQLite to evaluate).
func (f Flag) Pushed() bool { return f&(Index|Required|Additional|Optimized) != 0 }

// Column describes one column. Build it with the constructors (Text, BigInt,
// ...) and the option methods, so a spec reads like osquery's .table file.
type Column struct {
	Name    string
	Type    Type
	Flags   Flag
	Collate string // "", "nocase", "version", "version_dpkg", ...
}

// Text declares a TEXT column.
func Text(name string) Column { return Column{Name: name, Type: TypeText} }

// Integer declares an INTEGER column.
func Integer(name string) Column { return Column{Name: name, Type: TypeInteger} }

// BigInt declares a BIGINT column.
func BigInt(name string) Column { return Column{Name: name, Type: TypeBigInt} }

// UnsignedBigInt declares an UNSIGNED BIGINT column.
func UnsignedBigInt(name string) Column { return Column{Name: name, Type: TypeUnsignedBigInt} }

// Double declares a DOUBLE column.
func Double(name string) Column { return Column{Name: name, Type: TypeDouble} }

// Blob declares a BLOB column.
func Blob(name string) Column { return Column{Name: name, Type: TypeBlob} }

// Index marks the column as part of the primary key.
func (c Column) Index() Column { c.Flags |= Index; return c }

// Required marks the column as one the query must constrain.
func (c Column) Required() Column { c.Flags |= Required; return c }

// Additional marks the column as an input that changes what is generated.
func (c Column) Additional() Column { c.Flags |= Additional; return c }

// Optimized marks the column as receiving whole IN lists.
func (c Column) Optimized() Column { c.Flags |= Optimized; return c }

// Hidden keeps the column out of SELECT *.
func (c Column) Hidden() Column { c.Flags |= Hidden; return c }

// Collate sets the column's collation (nocase, version, version_dpkg, ...).
func (c Column) Collation(name string) Column { c.Collate = name; return c }

// Attr holds osquery's table attributes.
type Attr uint8

// Table attributes (osquery's spec DSL `attributes(...)`).
const (
	// EventSubscriber tables read buffered events; they need events enabled.
	EventSubscriber Attr = 1 << iota
	// UserData tables return the current user's data unless uid is constrained.
	UserData
	// Cacheable tables may reuse a recent generation in the scheduler.
	Cacheable
	// Utility tables are osquery's own helpers (file, time, osquery_*).
	Utility
	// NoPkey tables never get a primary key.
	NoPkey
)

// Spec declares a table.
type Spec struct {
	Name        string
	Description string
	Columns     []Column
	Attributes  Attr
}

// Column returns the index of the named column, or -1.
func (s *Spec) Column(name string) int {
	for i := range s.Columns {
		if s.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// Validate checks the spec for mistakes that would otherwise surface as
// confusing SQL errors.
func (s *Spec) Validate() error {
	if s.Name == "" || strings.ContainsAny(s.Name, " \t\"'`;()") {
		return fmt.Errorf("table name %q is not a plain identifier", s.Name)
	}
	if len(s.Columns) == 0 {
		return fmt.Errorf("table %s: no columns", s.Name)
	}
	seen := make(map[string]bool, len(s.Columns))
	for _, c := range s.Columns {
		if c.Name == "" || strings.ContainsAny(c.Name, " \t\"'`;()") {
			return fmt.Errorf("table %s: column name %q is not a plain identifier", s.Name, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("table %s: column %s declared twice", s.Name, c.Name)
		}
		seen[c.Name] = true
		if c.Type < TypeText || c.Type > TypeBlob {
			return fmt.Errorf("table %s: column %s has no type", s.Name, c.Name)
		}
	}
	if s.Attributes&EventSubscriber != 0 && s.Column("time") < 0 {
		return fmt.Errorf("table %s: event tables need a time column", s.Name)
	}
	return nil
}

// CreateTableSQL renders the statement osquery declares for the table (and
// prints in `.schema`): backquoted columns, HIDDEN and COLLATE markers, and a
// primary key over index (or additional) columns with WITHOUT ROWID.
func (s *Spec) CreateTableSQL() string { return s.createTable(true) }

// DeclareSQL is the statement gosquery declares to SQLite. It leaves out
// osquery's primary key: index columns are not unique (process_envs has one
// row per variable of a pid), and a declared key lets SQLite assume they
// are, dropping DISTINCT and marking key columns as always used. Constraint
// pushdown does not depend on the key.
func (s *Spec) DeclareSQL() string { return s.createTable(false) }

func (s *Spec) createTable(withKey bool) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(s.Name)
	b.WriteString("(")
	var key []string
	indexed := false
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`")
		b.WriteString(c.Name)
		b.WriteString("` ")
		b.WriteString(c.Type.String())
		if c.Flags&Hidden != 0 {
			b.WriteString(" HIDDEN")
		}
		if c.Collate != "" {
			b.WriteString(" COLLATE ")
			b.WriteString(strings.ToUpper(c.Collate))
		}
		if c.Flags&Index != 0 {
			indexed = true
		}
		if c.Flags&(Index|Additional) != 0 {
			key = append(key, c.Name)
		}
	}
	// osquery keys the table on its index and additional columns; with only
	// additional columns the whole row is the key, because additional columns
	// alone do not identify a row.
	switch {
	case s.Attributes&NoPkey != 0 || !withKey:
		key = nil
	case !indexed && len(key) > 0:
		key = key[:0]
		for _, c := range s.Columns {
			key = append(key, c.Name)
		}
	}
	if len(key) > 0 {
		b.WriteString(", PRIMARY KEY (")
		for i, k := range key {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("`")
			b.WriteString(k)
			b.WriteString("`")
		}
		b.WriteString(")) WITHOUT ROWID")
	} else {
		b.WriteString(")")
	}
	return b.String()
}
