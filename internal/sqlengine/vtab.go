package sqlengine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// maxCost is the cost of a plan that cannot use an index; osquery uses a
// large constant so that any plan pushing a constraint wins.
const maxCost = 1e10

// vtab adapts one registered table to SQLite's virtual table interface.
type vtab struct {
	db   *DB
	name string
}

func (db *DB) connector(name string) sqlite3.VTabConstructor[*vtab] {
	return func(conn *sqlite3.Conn, _, _, _ string, _ ...string) (*vtab, error) {
		def := db.env.Tables.Get(name)
		if def == nil {
			return nil, fmt.Errorf("no such table: %s", name)
		}
		if err := conn.DeclareVTab(def.Spec.DeclareSQL()); err != nil {
			return nil, fmt.Errorf("declare table %s: %w", name, err)
		}
		return &vtab{db: db, name: name}, nil
	}
}

// plan is what BestIndex decides and Filter executes. It travels in idxStr,
// so no per-table state grows with the number of statements prepared.
type plan struct {
	// terms are the pushed constraints in argv order.
	terms []term
	used  uint64
	// missingRequired means no constraint reached a required column; Filter
	// fails with osquery's message.
	missingRequired bool
}

type term struct {
	col int
	op  table.Op
	// in marks an IN list handed over all at once.
	in bool
}

func (p *plan) encode() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(p.used, 16))
	if p.missingRequired {
		b.WriteString("!")
	}
	for _, t := range p.terms {
		b.WriteByte(';')
		b.WriteString(strconv.Itoa(t.col))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(t.op)))
		if t.in {
			b.WriteString(",in")
		}
	}
	return b.String()
}

func decodePlan(s string) (*plan, error) {
	parts := strings.Split(s, ";")
	p := &plan{}
	head := parts[0]
	if strings.HasSuffix(head, "!") {
		p.missingRequired = true
		head = strings.TrimSuffix(head, "!")
	}
	used, err := strconv.ParseUint(head, 16, 64)
	if err != nil {
		return nil, fmt.Errorf("bad plan %q", s)
	}
	p.used = used
	for _, part := range parts[1:] {
		f := strings.Split(part, ",")
		if len(f) < 2 {
			return nil, fmt.Errorf("bad plan %q", s)
		}
		col, err1 := strconv.Atoi(f[0])
		op, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad plan %q", s)
		}
		p.terms = append(p.terms, term{col: col, op: table.Op(op), in: len(f) > 2})
	}
	return p, nil
}

// pushable maps SQLite's operator to one tables receive.
func pushable(op sqlite3.IndexConstraintOp) (table.Op, bool) {
	switch op {
	case sqlite3.INDEX_CONSTRAINT_EQ:
		return table.OpEq, true
	case sqlite3.INDEX_CONSTRAINT_GT:
		return table.OpGt, true
	case sqlite3.INDEX_CONSTRAINT_LE:
		return table.OpLe, true
	case sqlite3.INDEX_CONSTRAINT_LT:
		return table.OpLt, true
	case sqlite3.INDEX_CONSTRAINT_GE:
		return table.OpGe, true
	case sqlite3.INDEX_CONSTRAINT_MATCH:
		return table.OpMatch, true
	case sqlite3.INDEX_CONSTRAINT_LIKE:
		return table.OpLike, true
	case sqlite3.INDEX_CONSTRAINT_GLOB:
		return table.OpGlob, true
	case sqlite3.INDEX_CONSTRAINT_REGEXP:
		return table.OpRegexp, true
	}
	return 0, false
}

// BestIndex follows osquery's planner: constraints on index, required,
// additional and optimized columns reach the table (range operators on TEXT
// do not), none are omitted so SQLite re-checks every row, and a plan that
// leaves a required column unconstrained is either refused (when a join
// order could supply it) or costed so high that any other plan wins.
func (t *vtab) BestIndex(info *sqlite3.IndexInfo) error {
	def := t.db.env.Tables.Get(t.name)
	if def == nil {
		return fmt.Errorf("no such table: %s", t.name)
	}
	cols := def.Spec.Columns
	p := plan{used: info.ColumnsUsed}
	hasRequired, satisfied, couldSatisfy := false, false, false
	for _, c := range cols {
		if c.Flags&table.Required != 0 {
			hasRequired = true
		}
	}
	argv := 0
	for i, c := range info.Constraint {
		if c.Column < 0 || c.Column >= len(cols) {
			continue
		}
		col := cols[c.Column]
		if !col.Flags.Pushed() {
			continue
		}
		op, ok := pushable(c.Op)
		if !ok {
			continue
		}
		if col.Type == table.TypeText && (op == table.OpGt || op == table.OpGe || op == table.OpLt || op == table.OpLe) {
			continue
		}
		if !c.Usable {
			if col.Flags&table.Required != 0 {
				couldSatisfy = true
			}
			continue
		}
		argv++
		info.ConstraintUsage[i].ArgvIndex = argv
		tm := term{col: c.Column, op: op}
		// Hand IN lists over whole: one generation for `pid IN (1,2,3)`
		// instead of one per element, and SQLite still checks each row.
		if op == table.OpEq && info.In(i, 1) {
			tm.in = true
		}
		p.terms = append(p.terms, tm)
		if col.Flags&table.Required != 0 {
			satisfied = true
		}
	}
	cost := maxCost
	if len(p.terms) > 0 {
		cost = 1
	}
	if hasRequired && !satisfied {
		if couldSatisfy {
			// Another join order can feed this table its required column.
			return sqlite3.CONSTRAINT
		}
		p.missingRequired = true
		cost = maxCost
	}
	info.EstimatedCost = cost
	info.IdxStr = p.encode()
	return nil
}

func (t *vtab) Open() (sqlite3.VTabCursor, error) {
	return &cursor{vtab: t}, nil
}

// cursor is one scan of a table.
type cursor struct {
	vtab  *vtab
	gen   table.Cursor
	eof   bool
	rowid int64
	out   resultWriter
}

func (c *cursor) Close() error {
	if c.gen != nil {
		c.gen.Close()
		c.gen = nil
	}
	return nil
}

func (c *cursor) Filter(_ int, idxStr string, args ...sqlite3.Value) error {
	if c.gen != nil {
		c.gen.Close()
		c.gen = nil
	}
	c.eof, c.rowid = true, 0
	db := c.vtab.db
	def := db.env.Tables.Get(c.vtab.name)
	if def == nil {
		return fmt.Errorf("no such table: %s", c.vtab.name)
	}
	p, err := decodePlan(idxStr)
	if err != nil {
		return err
	}
	db.lastTables[def.Spec.Name] = true
	spec := &def.Spec
	log := db.env.Log
	if p.missingRequired {
		log.Warn(fmt.Sprintf("Table %s was queried without a required column in the WHERE clause", spec.Name))
		log.Warn("Please see the table documentation: https://osquery.io/schema/#" + spec.Name)
		// osquery fails the statement with a bare SQLITE_CONSTRAINT.
		return sqlite3.CONSTRAINT
	}
	q := table.NewQuery(db.env, spec)
	q.SetUsed(p.used)
	for k, tm := range p.terms {
		if k >= len(args) || tm.col >= len(spec.Columns) {
			break
		}
		if tm.in {
			if err := eachIn(args[k], func(v sqlite3.Value) {
				if v.Type() != sqlite3.NULL {
					q.Add(tm.col, table.Constraint{Op: tm.op, Expr: v.Text()})
				}
			}); err != nil {
				return err
			}
			continue
		}
		// A NULL right-hand side matches nothing; osquery drops it too.
		if args[k].Type() == sqlite3.NULL {
			continue
		}
		q.Add(tm.col, table.Constraint{Op: tm.op, Expr: args[k].Text()})
	}
	if spec.Attributes&table.EventSubscriber != 0 && db.env.Flags != nil && db.env.Flags.Bool("disable_events") {
		log.Warn(fmt.Sprintf("Table %s is event-based but events are disabled", spec.Name))
		log.Warn("Please see the table documentation: https://osquery.io/schema/#" + spec.Name)
		return nil
	}
	if spec.Attributes&table.UserData != 0 && os.Geteuid() == 0 && !q.Has("uid") && !q.Has("username") {
		log.Warn(fmt.Sprintf("The %s table returns data based on the current user by default, consider JOINing against the users table", spec.Name))
	}
	ctx := db.conn.GetInterrupt()
	if ctx == nil {
		ctx = context.Background()
	}
	c.gen = def.Open(ctx, q)
	return c.advance()
}

func (c *cursor) advance() error {
	if c.gen.Next() {
		c.eof = false
		c.rowid++
		return nil
	}
	c.eof = true
	if err := c.gen.Err(); err != nil {
		// Cancellation is SQLite stopping early, not a failure.
		if ctx := c.vtab.db.conn.GetInterrupt(); ctx != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

func (c *cursor) Next() error { return c.advance() }

func (c *cursor) EOF() bool { return c.eof }

func (c *cursor) Column(ctx sqlite3.Context, n int) error {
	c.out.ctx = ctx
	c.gen.Column(n, &c.out)
	return nil
}

// RowID identifies the current row by a hash of its values. SQLite needs a
// rowid that is the same for the same row across scans: it merges the
// branches of an OR (one scan per branch) by rowid, so a per-scan counter
// would make rows of the second branch collide with the first and vanish.
func (c *cursor) RowID() (int64, error) {
	def := c.vtab.db.env.Tables.Get(c.vtab.name)
	if def == nil {
		return c.rowid, nil
	}
	h := rowHasher{h: fnv.New64a()}
	for i := range def.Spec.Columns {
		c.gen.Column(i, &h)
	}
	return int64(h.h.Sum64() &^ (1 << 63)), nil
}

// rowHasher feeds column values, tagged by type, into a hash.
type rowHasher struct {
	h   hash.Hash64
	buf [9]byte
}

func (r *rowHasher) tagged(tag byte, v uint64) {
	r.buf[0] = tag
	binary.LittleEndian.PutUint64(r.buf[1:], v)
	r.h.Write(r.buf[:])
}

func (r *rowHasher) Null()             { r.tagged(0, 0) }
func (r *rowHasher) Int64(v int64)     { r.tagged(1, uint64(v)) }
func (r *rowHasher) Float64(v float64) { r.tagged(2, math.Float64bits(v)) }
func (r *rowHasher) Text(v string) {
	r.tagged(3, uint64(len(v)))
	io.WriteString(r.h, v)
}
func (r *rowHasher) Blob(v []byte) {
	r.tagged(4, uint64(len(v)))
	r.h.Write(v)
}

// resultWriter hands a table's values to SQLite. It lives in the cursor so
// writing a cell allocates nothing.
type resultWriter struct{ ctx sqlite3.Context }

func (w *resultWriter) Null()             { w.ctx.ResultNull() }
func (w *resultWriter) Int64(v int64)     { w.ctx.ResultInt64(v) }
func (w *resultWriter) Float64(v float64) { w.ctx.ResultFloat(v) }
func (w *resultWriter) Text(v string)     { w.ctx.ResultText(v) }
func (w *resultWriter) Blob(v []byte)     { w.ctx.ResultBlob(v) }

// eachIn walks the right-hand side of an IN list handed over all at once.
func eachIn(list sqlite3.Value, fn func(sqlite3.Value)) error {
	v, err := list.InFirst()
	for err == nil {
		fn(v)
		v, err = list.InNext()
	}
	// SQLITE_DONE ends the list.
	if errors.Is(err, sqlite3.ExtendedErrorCode(101)) {
		return nil
	}
	return err
}
