package table

import (
	"context"
	"fmt"
	"iter"
	"reflect"
	"runtime/debug"
	"sort"
	"sync"
	"unsafe"
)

// Generator produces a table's rows. It streams: emit hands one row to the
// SQL engine, which may stop reading early (LIMIT); ctx is cancelled then, so
// long loops check ctx.Err(). Per-row failures are skipped; an error returned
// fails the whole query.
type Generator[R any] func(ctx context.Context, q *Query, emit func(R)) error

// Cursor is the pull side of a generation, as the SQL engine consumes it.
type Cursor interface {
	// Next advances to the next row and reports whether there is one.
	Next() bool
	// Column writes column i of the current row.
	Column(i int, w ValueWriter)
	// Err reports why the generation failed, after Next returned false.
	Err() error
	// Close stops the generation and releases it.
	Close()
}

// Def is a registered table: its spec and how to open a cursor over it.
type Def struct {
	Spec Spec
	// Open starts a generation for q. It is called once per SQLite xFilter.
	Open func(ctx context.Context, q *Query) Cursor
	// Owner is the uuid of the extension that registered the table; 0 for
	// core tables.
	Owner uint64
}

// New builds the Def for a typed generator, checking the row type against
// the spec.
func New[R any](spec Spec, gen Generator[R]) (*Def, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	l, err := newLayout(&spec, reflect.TypeFor[R]())
	if err != nil {
		return nil, err
	}
	d := &Def{Spec: spec}
	d.Open = func(ctx context.Context, q *Query) Cursor {
		return openTyped(ctx, q, l, &d.Spec, gen)
	}
	return d, nil
}

// Register adds a typed table to the Default registry. It is meant for
// init(); a bad spec or row type is a programming error and panics there,
// which the registry test catches before anything ships.
func Register[R any](spec Spec, gen Generator[R]) {
	d, err := New(spec, gen)
	if err != nil {
		panic(err)
	}
	if err := Default.Add(d); err != nil {
		panic(err)
	}
}

// typedCursor turns a push-style generator into the pull-style cursor
// SQLite needs, with a coroutine (iter.Pull) rather than a goroutine and
// channel, so each row costs a couple of context switches and no allocation.
type typedCursor[R any] struct {
	next   func() (R, bool)
	stop   func()
	cancel context.CancelFunc
	layout *layout
	spec   *Spec
	row    R
	err    error
	done   bool
}

func openTyped[R any](ctx context.Context, q *Query, l *layout, spec *Spec, gen Generator[R]) *typedCursor[R] {
	ctx, cancel := context.WithCancel(ctx)
	c := &typedCursor[R]{cancel: cancel, layout: l, spec: spec}
	seq := func(yield func(R) bool) {
		stopped := false
		c.err = gen(ctx, q, func(r R) {
			if stopped {
				return
			}
			if !yield(r) {
				stopped = true
				cancel()
			}
		})
	}
	c.next, c.stop = iter.Pull(iter.Seq[R](seq))
	return c
}

func (c *typedCursor[R]) Next() (ok bool) {
	if c.done {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			// A bug in one table must fail its query, not the agent.
			c.err = fmt.Errorf("table %s: generator panicked: %v\n%s", c.spec.Name, p, debug.Stack())
			c.done = true
			ok = false
		}
	}()
	c.row, ok = c.next()
	if !ok {
		c.done = true
	}
	return ok
}

func (c *typedCursor[R]) Column(i int, w ValueWriter) {
	c.layout.write(unsafe.Pointer(&c.row), i, w)
}

func (c *typedCursor[R]) Err() error { return c.err }

func (c *typedCursor[R]) Close() {
	c.cancel()
	func() {
		defer func() { _ = recover() }() // a panic while unwinding is already reported by Next
		c.stop()
	}()
	c.done = true
}

// Registry holds the tables the SQL engine attaches. Core tables are added
// from init(); extension tables come and go at run time.
type Registry struct {
	mu         sync.RWMutex
	defs       map[string]*Def
	generation uint64
}

// Default is the registry core tables register into.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]*Def{}} }

// Add registers a table; names are unique.
func (r *Registry) Add(d *Def) error {
	if err := d.Spec.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[d.Spec.Name]; dup {
		return fmt.Errorf("table %s is already registered", d.Spec.Name)
	}
	r.defs[d.Spec.Name] = d
	r.generation++
	return nil
}

// Remove unregisters a table (an extension went away).
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.defs[name]; ok {
		delete(r.defs, name)
		r.generation++
	}
}

// Get returns the named table or nil.
func (r *Registry) Get(name string) *Def {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.defs[name]
}

// Names returns the registered table names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.defs))
	for n := range r.defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns the registered tables sorted by name.
func (r *Registry) All() []*Def {
	r.mu.RLock()
	defer r.mu.RUnlock()
	defs := make([]*Def, 0, len(r.defs))
	for _, d := range r.defs {
		defs = append(defs, d)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Spec.Name < defs[j].Spec.Name })
	return defs
}

// Generation changes whenever a table is added or removed, so connections
// know when to re-attach.
func (r *Registry) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.generation
}

// Clone returns a registry with the same tables, for a process that wants
// to add or remove tables without touching Default.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for k, v := range r.defs {
		c.defs[k] = v
	}
	c.generation = r.generation
	return c
}
