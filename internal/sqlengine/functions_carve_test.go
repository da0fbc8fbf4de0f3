package sqlengine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/carver/carvertest"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/table"
)

func carveValue(t *testing.T, env *table.Env, ctx context.Context, sql string) string {
	t.Helper()
	db, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("%s: rows %v", sql, res.Rows)
	}
	return res.Rows[0][0].String()
}

// TestCarveFunctionDisabled: by default carve() refuses, as osquery's
// --carver_disable_function=true does; with the function allowed but the
// carver disabled it says so.
func TestCarveFunctionDisabled(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Carve Failed: function disabled"},
		{[]string{"--disable_carver=false"}, "Carve Failed: function disabled"},
		{[]string{"--carver_disable_function=false"}, "Carve Failed: carver disabled (--disable_carver=true)"},
		{[]string{"--carver_disable_function=false", "--disable_carver=false"}, "Carve Failed: no carver in this process"},
	} {
		fl := flags.Standard()
		if _, err := fl.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		env := table.HostEnv(fl, table.NewRegistry(), nil)
		if got := carveValue(t, env, context.Background(), "select carve('/etc/hosts')"); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	// With a carver that is disabled, nothing is recorded either.
	h := carvertest.Start(t, carvertest.Options{NoRun: true, Args: []string{"--disable_carver=true", "--carver_disable_function=false"}})
	if got := carveValue(t, h.Env, context.Background(), "select carve('/etc/hosts')"); !strings.HasPrefix(got, "Carve Failed: carver disabled") {
		t.Errorf("disabled carver: %q", got)
	}
	h.Carver.List(context.Background(), func(r carver.Record) bool { t.Errorf("record %+v", r); return true })
}

// TestCarveFunction: carve(path) over rows schedules one carve of their
// paths with the distributed query's id; NULLs are skipped.
func TestCarveFunction(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{Args: []string{"--carver_disable_function=false"}})
	d := t.TempDir()
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	os.WriteFile(a, []byte("AAA"), 0o644)
	os.WriteFile(b, []byte("BBB"), 0o644)
	ctx := remote.WithRequestID(context.Background(), "q1")
	got := carveValue(t, h.Env, ctx, "select carve(p) from (select '"+b+"' as p union all select null union all select '"+a+"' union all select '"+a+"')")
	guid, ok := strings.CutPrefix(got, "Carve Started: ")
	if !ok || len(guid) != 36 {
		t.Fatalf("carve() = %q", got)
	}
	rec := h.Wait(t, guid, 20*time.Second)
	if rec.Status != carver.StatusSuccess || rec.RequestID != "q1" || !slices.Equal(rec.Paths, []string{a, b}) || rec.Path != a+","+b {
		t.Fatalf("record %+v", rec)
	}
	up, err := h.Server.WaitCarve(5 * time.Second)
	if err != nil || up.ID != guid || up.RequestID != "q1" {
		t.Fatalf("upload %+v %v", up, err)
	}
	// No rows with a path: nothing to carve.
	if got := carveValue(t, h.Env, ctx, "select carve(p) from (select null as p)"); got != "Carve Failed: no paths" {
		t.Errorf("no paths: %q", got)
	}
	// One carve per group.
	db, err := Open(h.Env)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, "select g, carve(p) from (select 1 as g, '"+a+"' as p union all select 2, '"+b+"') group by g")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || !strings.HasPrefix(res.Rows[0][1].String(), "Carve Started: ") || res.Rows[0][1].String() == res.Rows[1][1].String() {
		t.Errorf("grouped %v", res.Rows)
	}
	n := 0
	h.Carver.List(context.Background(), func(carver.Record) bool { n++; return true })
	if n != 3 {
		t.Errorf("%d records, want 3", n)
	}
}
