package table

import (
	"slices"
	"strconv"
)

// Op is a constraint operator, with osquery's codes (which are SQLite's).
type Op uint8

// Constraint operators a table can receive.
const (
	OpEq     Op = 2
	OpGt     Op = 4
	OpLe     Op = 8
	OpLt     Op = 16
	OpGe     Op = 32
	OpMatch  Op = 64
	OpLike   Op = 65
	OpGlob   Op = 66
	OpRegexp Op = 67
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "="
	case OpGt:
		return ">"
	case OpLe:
		return "<="
	case OpLt:
		return "<"
	case OpGe:
		return ">="
	case OpMatch:
		return "MATCH"
	case OpLike:
		return "LIKE"
	case OpGlob:
		return "GLOB"
	case OpRegexp:
		return "REGEXP"
	}
	return "op" + strconv.Itoa(int(o))
}

// Constraint is one pushed-down term: column <Op> Expr. Expr is the
// right-hand value as text, as osquery hands it to tables; a NULL right-hand
// side never reaches the table (it can match nothing).
type Constraint struct {
	Op   Op
	Expr string
}

// Query is what a table's generator receives: the pushed-down constraints
// and the columns the statement uses. Constraints are a hint: SQLite checks
// every row again, so a table may return more rows than asked for, never
// fewer.
type Query struct {
	// Env gives the generator its roots, flags and process-wide services.
	Env *Env

	spec        *Spec
	constraints [][]Constraint
	used        uint64
}

// NewQuery starts an empty query on spec: no constraints, every column used.
func NewQuery(env *Env, spec *Spec) *Query {
	return &Query{Env: env, spec: spec, constraints: make([][]Constraint, len(spec.Columns)), used: ^uint64(0)}
}

// Spec returns the table being queried.
func (q *Query) Spec() *Spec { return q.spec }

// Add records a constraint on the column at index col.
func (q *Query) Add(col int, c Constraint) {
	q.constraints[col] = append(q.constraints[col], c)
}

// AddNamed records a constraint on the named column; unknown names are
// ignored (tests and extension requests name columns).
func (q *Query) AddNamed(col string, c Constraint) {
	if i := q.spec.Column(col); i >= 0 {
		q.Add(i, c)
	}
}

// SetUsed records which columns the statement reads, as SQLite's colUsed
// mask: bit i for column i < 63, bit 63 for any column from 63 on.
func (q *Query) SetUsed(mask uint64) { q.used = mask }

// UsedMask returns the colUsed mask.
func (q *Query) UsedMask() uint64 { return q.used }

// Used reports whether the statement reads the named column, so that a
// table can skip work for columns nobody asked for.
func (q *Query) Used(col string) bool {
	i := q.spec.Column(col)
	if i < 0 {
		return false
	}
	return q.used&(1<<min(i, 63)) != 0
}

// UsedAny reports whether any of the named columns is read.
func (q *Query) UsedAny(cols ...string) bool {
	return slices.ContainsFunc(cols, q.Used)
}

// Constraints returns the constraints on the named column.
func (q *Query) Constraints(col string) []Constraint {
	if i := q.spec.Column(col); i >= 0 {
		return q.constraints[i]
	}
	return nil
}

// Has reports whether the named column has any constraint.
func (q *Query) Has(col string) bool { return len(q.Constraints(col)) > 0 }

// HasOp reports whether the named column has a constraint with operator op.
func (q *Query) HasOp(col string, op Op) bool {
	for _, c := range q.Constraints(col) {
		if c.Op == op {
			return true
		}
	}
	return false
}

// Equals returns the distinct values the named column is compared to with
// `=` or `IN`, in the order given. Several values mean "any of these".
func (q *Query) Equals(col string) []string {
	return q.Values(col, OpEq)
}

// Values returns the distinct right-hand sides of op constraints on col.
func (q *Query) Values(col string, op Op) []string {
	var out []string
	for _, c := range q.Constraints(col) {
		if c.Op == op && !slices.Contains(out, c.Expr) {
			out = append(out, c.Expr)
		}
	}
	return out
}

// EqualsInt is Equals for integer columns; values that are not integers are
// dropped (they cannot match an integer column).
func (q *Query) EqualsInt(col string) []int64 {
	var out []int64
	for _, s := range q.Equals(col) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// SQLite renders 1.0 as "1.0"; a whole real still names an integer.
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != float64(int64(f)) {
				continue
			}
			v = int64(f)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Each calls fn for every constraint, with its column name.
func (q *Query) Each(fn func(col string, c Constraint)) {
	for i, cs := range q.constraints {
		for _, c := range cs {
			fn(q.spec.Columns[i].Name, c)
		}
	}
}
