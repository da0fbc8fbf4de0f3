package forensic

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/carver/carvertest"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

func records(t *testing.T, h *carvertest.Harness) []carver.Record {
	t.Helper()
	var out []carver.Record
	if err := h.Carver.List(context.Background(), func(r carver.Record) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func files(t *testing.T, names ...string) string {
	t.Helper()
	d := t.TempDir()
	for _, n := range names {
		p := filepath.Join(d, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestCarveColumn: carve = 1 with paths schedules one carve and marks only
// its row; everything else only lists.
func TestCarveColumn(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{NoRun: true})
	d := files(t, "a", "b", "sub/c", "sub/deep/e")
	for _, sql := range []string{
		"select * from carves",
		"select * from carves where carve = 1",                              // no path
		"select * from carves where path = '" + d + "/a'",                   // no carve = 1
		"select * from carves where path = '" + d + "/a' and carve = 0",     // carve = 0
		"select * from carves where path like '" + d + "/z%' and carve = 1", // matches nothing
	} {
		tabletest.Query(t, h.Env, sql)
		if n := len(records(t, h)); n != 0 {
			t.Fatalf("%s scheduled %d carves", sql, n)
		}
	}
	rows := tabletest.Query(t, h.Env, "select * from carves where path = '"+d+"/a' and carve = 1")
	if len(rows) != 1 || rows[0]["carve"] != "1" || rows[0]["path"] != d+"/a" || rows[0]["status"] != "SCHEDULED" {
		t.Fatalf("rows %v", rows)
	}
	first := rows[0]["carve_guid"]
	// A second request: only its own row has carve = 1, and the query's
	// filter leaves the first carve out.
	rows = tabletest.Query(t, h.Env, "select * from carves where path like '"+d+"/%' and carve = 1")
	if len(rows) != 1 || rows[0]["carve_guid"] == first || rows[0]["path"] != d+"/a,"+d+"/b,"+d+"/sub" {
		t.Fatalf("rows %v", rows)
	}
	all := tabletest.Query(t, h.Env, "select carve_guid, carve from carves")
	if len(all) != 2 || all[0]["carve"] != "0" || all[1]["carve"] != "0" {
		t.Errorf("listing %v", all)
	}
	// %% takes everything below.
	rows = tabletest.Query(t, h.Env, "select path from carves where path like '"+d+"/sub/%%' and carve = 1")
	if len(rows) != 1 || rows[0]["path"] != d+"/sub/c,"+d+"/sub/deep,"+d+"/sub/deep/e" {
		t.Errorf("recursive rows %v", rows)
	}
	// carve_guid lookups work (nocase, as osquery declares it).
	rows = tabletest.Query(t, h.Env, "select carve_guid from carves where carve_guid = '"+strings.ToUpper(first)+"'")
	if len(rows) != 1 || rows[0]["carve_guid"] != first {
		t.Errorf("lookup by guid %v", rows)
	}
	if n := len(records(t, h)); n != 3 {
		t.Errorf("%d records, want 3", n)
	}
}

// TestCarveRequestRuns: the row the request returns is the carve Run
// then uploads.
func TestCarveRequestRuns(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{})
	d := files(t, "only")
	rows := tabletest.Query(t, h.Env, "select carve_guid from carves where path = '"+d+"/only' and carve = 1")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	rec := h.Wait(t, rows[0]["carve_guid"], 20*time.Second)
	if rec.Status != carver.StatusSuccess {
		t.Fatalf("record %+v", rec)
	}
	rows = tabletest.Query(t, h.Env, "select status, size > 0 as sized, length(sha256) as hl from carves")
	if len(rows) != 1 || rows[0]["status"] != "SUCCESS" || rows[0]["sized"] != "1" || rows[0]["hl"] != "64" {
		t.Errorf("rows %v", rows)
	}
}

// TestNoCarver: without a carver in the process a request is an error
// that says why; listing is empty.
func TestNoCarver(t *testing.T) {
	for args, want := range map[string]string{
		"--disable_carver=true":  "--disable_carver=false",
		"--disable_carver=false": "runs no carver",
	} {
		fl := flags.Standard()
		if _, err := fl.Parse([]string{args}); err != nil {
			t.Fatal(err)
		}
		env := table.HostEnv(fl, table.Default, nil)
		_, err := tabletest.TryQuery(env, "select * from carves where path = '/etc/hosts' and carve = 1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
		if rows := tabletest.Query(t, env, "select * from carves"); len(rows) != 0 {
			t.Errorf("%s: rows %v", args, rows)
		}
	}
}
