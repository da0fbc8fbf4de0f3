package sqlengine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/table"
)

// osquery's carve(path) aggregate (osquery/sql/sqlite_operations.cpp):
// collects the paths of the rows it sees and, at the end, schedules one
// carve of all of them. Its value is "Carve Started: <guid>", or
// "Carve Failed: <why>" (osquery cuts both to 13 characters by mistake;
// the full text is returned here). Paths are taken literally, not
// expanded; NULL paths are skipped.

// Results that say why nothing was carved.
const (
	carveDisabledFunction = "Carve Failed: function disabled"
	carveDisabledCarver   = "Carve Failed: carver disabled (--disable_carver=true)"
	carveNoCarver         = "Carve Failed: no carver in this process"
	carveNoPaths          = "Carve Failed: no paths"
)

func registerCarveFunction(conn *sqlite3.Conn, env *table.Env) error {
	// Not deterministic: its point is the side effect.
	return conn.CreateWindowFunction("carve", 1, 0, func() sqlite3.AggregateFunction {
		return &carveAggregate{env: env}
	})
}

type carveAggregate struct {
	env    *table.Env
	paths  []string
	done   bool
	result string
}

func (a *carveAggregate) Step(ctx sqlite3.Context, args ...sqlite3.Value) {
	if args[0].Type() == sqlite3.NULL || len(a.paths) > carver.MaxPaths {
		return
	}
	a.paths = append(a.paths, args[0].Text())
}

func (a *carveAggregate) Value(ctx sqlite3.Context) {
	defer func() {
		if r := recover(); r != nil {
			ctx.ResultError(fmt.Errorf("carve: internal error: %v", r))
		}
	}()
	if !a.done {
		// Used as a window function, SQLite asks for the value once per
		// row: one carve is scheduled, the first time.
		a.done = true
		a.result = a.schedule(ctx)
	}
	ctx.ResultText(a.result)
}

func (a *carveAggregate) schedule(ctx sqlite3.Context) string {
	fl := a.env.Flags
	if fl != nil && fl.Bool("carver_disable_function") {
		return carveDisabledFunction
	}
	if fl != nil && fl.Bool("disable_carver") {
		return carveDisabledCarver
	}
	c := carver.FromEnv(a.env)
	if c == nil {
		return carveNoCarver
	}
	// The statement's context carries the distributed query's id.
	sctx := ctx.Conn().GetInterrupt()
	if sctx == nil {
		sctx = context.Background()
	}
	rec, err := c.Schedule(sctx, a.paths)
	switch {
	case errors.Is(err, carver.ErrNoPaths):
		return carveNoPaths
	case errors.Is(err, carver.ErrDisabled):
		return carveDisabledCarver
	case err != nil:
		return "Carve Failed: " + err.Error()
	}
	return "Carve Started: " + rec.GUID
}
