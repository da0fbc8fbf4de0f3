package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
)

type strRow struct {
	Name  string `col:"name"`
	Value string `col:"value"`
	N     int64  `col:"n"`
}

// testShell builds a shell over a real engine with one small table.
func testShell(t *testing.T) (*Shell, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	reg := table.NewRegistry()
	d, err := table.New(table.Spec{
		Name:    "things",
		Columns: []table.Column{table.Text("name"), table.Text("value"), table.BigInt("n").Hidden()},
	}, func(ctx context.Context, q *table.Query, emit func(strRow)) error {
		emit(strRow{Name: "alpha", Value: "1"})
		emit(strRow{Name: "ünïcode", Value: "a \"quoted\" value"})
		emit(strRow{Name: "tab\there", Value: ""})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(d); err != nil {
		t.Fatal(err)
	}
	fl := flags.Standard()
	env := table.HostEnv(fl, reg, nil)
	db, err := sqlengine.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var out, errOut bytes.Buffer
	return &Shell{
		Exec: db, Local: db, Tables: reg, Flags: fl, Version: "5.23.0",
		Out: &out, Err: &errOut,
		Printer: Printer{Mode: ModePretty, Header: true, Separator: "|"},
	}, &out, &errOut
}

func TestPrettyOutput(t *testing.T) {
	s, out, _ := testShell(t)
	if rc := s.RunQuery(context.Background(), "select name, value from things"); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	want := "+----------+------------------+\n" +
		"| name     | value            |\n" +
		"+----------+------------------+\n" +
		"| alpha    | 1                |\n" +
		"| ünïcode  | a \"quoted\" value |\n" +
		"| tab\there |                  |\n" +
		"+----------+------------------+\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	s.RunQuery(context.Background(), "select name from things where 0")
	if out.Len() != 0 {
		t.Fatalf("empty result printed %q", out.String())
	}
}

func TestJSONOutput(t *testing.T) {
	s, out, errOut := testShell(t)
	s.Printer.Mode = ModeJSON
	s.RunQuery(context.Background(), "select value, name, 2 as num, null as nil from things limit 2")
	want := "[\n" +
		`  {"name":"alpha","nil":"","num":"2","value":"1"},` + "\n" +
		`  {"name":"ünïcode","nil":"","num":"2","value":"a \"quoted\" value"}` + "\n]\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s\nstderr: %s", out.String(), want, errOut.String())
	}
	var parsed []map[string]string
	if err := json.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	s.Printer.Mode = ModeJSONPretty
	s.RunQuery(context.Background(), "select 'x' as b, 1 as a")
	if want := "[\n  {\n    \"a\": \"1\",\n    \"b\": \"x\"\n  }\n]\n"; out.String() != want {
		t.Fatalf("pretty json got:\n%s", out.String())
	}
	out.Reset()
	s.Printer.Mode = ModeJSON
	s.RunQuery(context.Background(), "select 1 where 0")
	if out.String() != "[\n\n]\n" {
		t.Fatalf("empty json %q", out.String())
	}
}

func TestLineListCSVColumn(t *testing.T) {
	s, out, _ := testShell(t)
	ctx := context.Background()
	s.Printer.Mode = ModeLine
	s.RunQuery(ctx, "select name, value from things limit 2")
	if want := " name = alpha\nvalue = 1\n\n name = ünïcode\nvalue = a \"quoted\" value\n"; out.String() != want {
		t.Fatalf("line:\n%q", out.String())
	}
	out.Reset()
	s.Printer.Mode = ModeList
	s.RunQuery(ctx, "select name, value from things limit 2")
	if want := "name|value\nalpha|1\nünïcode|a \"quoted\" value\n"; out.String() != want {
		t.Fatalf("list:\n%q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".mode csv")
	s.RunQuery(ctx, "select name, value from things")
	if want := "name,value\nalpha,1\n\"ünïcode\",\"a \"\"quoted\"\" value\"\n\"tab\there\",\n"; out.String() != want {
		t.Fatalf("csv:\n%q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".mode column")
	s.Meta(ctx, ".headers off")
	s.RunQuery(ctx, "select name, value from things limit 1")
	if want := "alpha       1         \n"; out.String() != want {
		t.Fatalf("column:\n%q", out.String())
	}
}

func TestMetaCommands(t *testing.T) {
	s, out, errOut := testShell(t)
	ctx := context.Background()
	s.Meta(ctx, ".tables")
	if out.String() != "  => things\n" {
		t.Fatalf(".tables %q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".schema thi")
	if want := "CREATE TABLE things(`name` TEXT, `value` TEXT, `n` BIGINT HIDDEN);\n"; out.String() != want {
		t.Fatalf(".schema %q", out.String())
	}
	out.Reset()
	s.Meta(ctx, `.print hello "a\tb"`)
	if out.String() != "hello a\tb\n" {
		t.Fatalf(".print %q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".nullvalue NULL")
	s.Meta(ctx, ".mode list")
	s.RunQuery(ctx, "select null as x")
	if out.String() != "x\nNULL\n" {
		t.Fatalf(".nullvalue %q", out.String())
	}
	out.Reset()
	if rc, _ := s.Meta(ctx, ".bogus"); rc != 1 || !strings.Contains(errOut.String(), `unknown command or invalid arguments:  "bogus"`) {
		t.Fatalf("unknown meta: rc %d, %q", rc, errOut.String())
	}
	errOut.Reset()
	s.Meta(ctx, ".help")
	if !strings.Contains(errOut.String(), ".tables [TABLE]") {
		t.Fatal(".help went elsewhere")
	}
	if _, err := s.Meta(ctx, ".exit 3"); err == nil || err.(exitRequest).code != 3 {
		t.Fatalf(".exit 3: %v", err)
	}
	// Prefix matching: ".q" is .quit, ".mo" is .mode.
	if _, err := s.Meta(ctx, ".q"); err == nil {
		t.Fatal(".q did not quit")
	}
	out.Reset()
	s.Meta(ctx, ".mo line")
	if s.Printer.Mode != ModeLine {
		t.Fatal(".mo line")
	}
	s.Meta(ctx, ".types select name, 1 as one from things")
	if !strings.Contains(out.String(), " name = name\n type = TEXT") || !strings.Contains(out.String(), "type = UNKNOWN") {
		t.Fatalf(".types %q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".features")
	if !strings.Contains(out.String(), "disable_events: false\n") {
		t.Fatalf(".features %q", out.String())
	}
	out.Reset()
	s.Meta(ctx, ".show")
	if !strings.Contains(out.String(), "   nullvalue: \"NULL\"") {
		t.Fatalf(".show %q", out.String())
	}
}

func TestProcessInput(t *testing.T) {
	s, out, errOut := testShell(t)
	s.Printer.Mode = ModeList
	in := strings.Join([]string{
		"-- a comment",
		"select 1 as a;",
		"select 2",
		"  as b;",
		".headers off",
		"select nosuch from things;",
		"select 'x;y'",
		"as c;",
		"select 3 as d",
	}, "\n")
	rc := s.ProcessInput(context.Background(), strings.NewReader(in))
	if rc != 1 {
		t.Fatalf("rc %d, want 1 after an error", rc)
	}
	if want := "a\n1\nb\n2\nx;y\n3\n"; out.String() != want {
		t.Fatalf("out %q", out.String())
	}
	if want := "Error: near line 6: no such column: nosuch\n"; errOut.String() != want {
		t.Fatalf("err %q", errOut.String())
	}
}

func TestBailStopsInput(t *testing.T) {
	s, out, _ := testShell(t)
	s.Printer.Mode = ModeList
	rc := s.ProcessInput(context.Background(), strings.NewReader(".bail on\nselect x from nothing;\nselect 1 as one;\n"))
	if rc != 1 || out.Len() != 0 {
		t.Fatalf("rc %d out %q", rc, out.String())
	}
}

func TestOneShotExitCodes(t *testing.T) {
	s, _, errOut := testShell(t)
	if rc := s.RunQuery(context.Background(), "select * from nope"); rc != 1 {
		t.Fatalf("rc %d", rc)
	}
	if errOut.String() != "Error: no such table: nope\n" {
		t.Fatalf("err %q", errOut.String())
	}
}

func TestCompleter(t *testing.T) {
	s, _, _ := testShell(t)
	c := completer{s}
	got, n := c.Do([]rune("select * from thi"), 17)
	if n != 3 || len(got) != 1 || string(got[0]) != "ngs " {
		t.Fatalf("table completion %q %d", got, n)
	}
	got, _ = c.Do([]rune(".sch"), 4)
	if len(got) != 1 || string(got[0]) != "ema " {
		t.Fatalf("meta completion %q", got)
	}
}
