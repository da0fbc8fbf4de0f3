package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// streamAll collects what Stream hands over, statement by statement.
func streamAll(db *DB, ctx context.Context, sql string) ([][]string, [][]string, error) {
	var cols, rows [][]string
	err := db.Stream(ctx, sql, func(c []string) error {
		cols = append(cols, slices.Clone(c))
		return nil
	}, func(vals []Value) error {
		r := make([]string, len(vals))
		for i, v := range vals {
			r[i] = fmt.Sprintf("%d:%s", v.Kind, v.String())
		}
		rows = append(rows, r)
		return nil
	})
	return cols, rows, err
}

func TestStreamMatchesQuery(t *testing.T) {
	db, _ := testDB(t)
	ctx := context.Background()
	sql := "select n, name, n * 0.5 as half, null as nul, x'00ff' as b from nums where n <= 3"
	want := query(t, db, sql)
	cols, rows, err := streamAll(db, ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || !slices.Equal(cols[0], want.Columns) {
		t.Fatalf("columns %v, want %v", cols, want.Columns)
	}
	if len(rows) != len(want.Rows) {
		t.Fatalf("%d rows, want %d", len(rows), len(want.Rows))
	}
	for i, r := range want.Rows {
		for j, v := range r {
			if got, w := rows[i][j], fmt.Sprintf("%d:%s", v.Kind, v.String()); got != w {
				t.Errorf("row %d col %d: %s, want %s", i, j, got, w)
			}
		}
	}
}

func TestStreamStatementsAndErrors(t *testing.T) {
	db, _ := testDB(t)
	ctx := context.Background()
	cols, rows, err := streamAll(db, ctx, "select 1 as a; ; select 2 as b, 3 as c;")
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 2 || cols[1][0] != "b" || len(rows) != 2 || rows[1][1] != "1:3" {
		t.Fatalf("cols %v rows %v", cols, rows)
	}
	_, _, err = streamAll(db, ctx, "select * from nope")
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "no such table: nope") {
		t.Fatalf("err %v", err)
	}
	// A callback's error stops the scan and comes back unwrapped.
	stop := errors.New("stop")
	n := 0
	err = db.Stream(ctx, "select n from nums", func([]string) error { return nil }, func([]Value) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d rows", err, n)
	}
	// The connection is usable afterwards.
	if res := query(t, db, "select count(*) from nums"); res.Rows[0][0].Int != 1000 {
		t.Fatalf("count %v", res.Rows)
	}
}

func TestStreamCancelled(t *testing.T) {
	db, _ := testDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := db.Stream(ctx, "select n from nums", func([]string) error { return nil }, func([]Value) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if err == nil || n >= 1000 {
		t.Fatalf("cancelled stream: err %v after %d rows", err, n)
	}
}
