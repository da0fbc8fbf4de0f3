package extensions

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/sqlengine"
)

// Remote runs statements in a daemon through its extension socket: the
// executor behind `osqueryi --connect PATH` and `.connect PATH`.
type Remote struct {
	path    string
	timeout time.Duration
	pool    *wire.Pool
}

// Connect returns a Remote for the manager socket at path. It checks that
// something answers there, as osquery's shell does before switching.
func Connect(path string, timeout time.Duration) (*Remote, error) {
	r := &Remote{path: path, timeout: timeout, pool: wire.NewPool(path, timeout, wire.ClientLimits(0))}
	err := r.pool.Do(func(c *wire.Client) error {
		_, err := c.Ping(context.Background())
		return err
	})
	if err != nil {
		r.pool.Close()
		return nil, fmt.Errorf("Extension call failed: %v", err)
	}
	return r, nil
}

// Close releases the connection.
func (r *Remote) Close() { r.pool.Close() }

func (r *Remote) call(ctx context.Context, fn func(c *wire.Client) (*osquery.ExtensionResponse, error)) ([]map[string]string, error) {
	var resp *osquery.ExtensionResponse
	err := r.pool.Do(func(c *wire.Client) (err error) {
		resp, err = fn(c)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, &sqlengine.Error{Code: 9, Msg: "interrupted"}
		}
		return nil, &sqlengine.Error{Code: 1, Msg: "Extension call failed: " + err.Error()}
	}
	if st := resp.GetStatus(); st != nil && st.Code != extSuccess {
		return nil, &sqlengine.Error{Code: 1, Msg: st.Message}
	}
	return resp.GetResponse(), nil
}

// Columns implements shell.Executor with getQueryColumns.
func (r *Remote) Columns(ctx context.Context, sql string) ([]sqlengine.ColumnInfo, error) {
	rows, err := r.call(ctx, func(c *wire.Client) (*osquery.ExtensionResponse, error) { return c.GetQueryColumns(ctx, sql) })
	if err != nil {
		return nil, err
	}
	out := make([]sqlengine.ColumnInfo, 0, len(rows))
	for _, row := range rows {
		for name, typ := range row {
			out = append(out, sqlengine.ColumnInfo{Name: name, Type: typ})
		}
	}
	return out, nil
}

// Run implements shell.Executor: query(sql) for the rows, then
// getQueryColumns(sql) for their order, as osqueryi --connect does. Values
// arrive as text; NULLs arrive as "".
func (r *Remote) Run(ctx context.Context, sql string, fn func(*sqlengine.Result) error) error {
	rows, err := r.call(ctx, func(c *wire.Client) (*osquery.ExtensionResponse, error) { return c.Query(ctx, sql) })
	if err != nil {
		return err
	}
	res := &sqlengine.Result{}
	if cols, err := r.Columns(ctx, sql); err == nil && len(cols) > 0 {
		for _, c := range cols {
			res.Columns = append(res.Columns, c.Name)
			res.DeclTypes = append(res.DeclTypes, c.Type)
		}
	} else if len(rows) > 0 {
		// getQueryColumns only sees the first statement; fall back to the
		// row's own keys.
		for k := range rows[0] {
			res.Columns = append(res.Columns, k)
		}
		sort.Strings(res.Columns)
		res.DeclTypes = make([]string, len(res.Columns))
	}
	res.Rows = make([][]sqlengine.Value, len(rows))
	for i, row := range rows {
		vals := make([]sqlengine.Value, len(res.Columns))
		for j, c := range res.Columns {
			vals[j] = sqlengine.Value{Kind: sqlengine.Text, Str: row[c]}
		}
		res.Rows[i] = vals
	}
	return fn(res)
}
