package table

import (
	"context"
	"strings"
	"testing"
)

type goodRow struct {
	PID  int64   `col:"pid"`
	Name string  `col:"name"`
	Size NullInt `col:"size"`
	Load float64 `col:"load"`
}

var testSpec = Spec{
	Name: "t",
	Columns: []Column{
		BigInt("pid").Index().Optimized(),
		Text("name").Collation("nocase"),
		BigInt("size").Hidden(),
		Double("load").Additional(),
	},
}

func noRows[R any](ctx context.Context, q *Query, emit func(R)) error { return nil }

func TestRowTypesCheckedAtRegistration(t *testing.T) {
	if _, err := New(testSpec, noRows[goodRow]); err != nil {
		t.Fatal(err)
	}
	type misspelled struct {
		PID  int64   `col:"pid"`
		Name string  `col:"nmae"`
		Size NullInt `col:"size"`
		Load float64 `col:"load"`
	}
	if _, err := New(testSpec, noRows[misspelled]); err == nil || !strings.Contains(err.Error(), `"nmae"`) {
		t.Errorf("misspelled column: %v", err)
	}
	type missing struct {
		PID  int64   `col:"pid"`
		Size NullInt `col:"size"`
		Load float64 `col:"load"`
	}
	if _, err := New(testSpec, noRows[missing]); err == nil || !strings.Contains(err.Error(), "column name has no field") {
		t.Errorf("missing column: %v", err)
	}
	type wrongType struct {
		PID  string  `col:"pid"`
		Name string  `col:"name"`
		Size NullInt `col:"size"`
		Load float64 `col:"load"`
	}
	if _, err := New(testSpec, noRows[wrongType]); err == nil || !strings.Contains(err.Error(), "does not fit SQL type BIGINT") {
		t.Errorf("wrong type: %v", err)
	}
}

func TestCreateTableSQL(t *testing.T) {
	want := "CREATE TABLE t(`pid` BIGINT, `name` TEXT COLLATE NOCASE, `size` BIGINT HIDDEN, `load` DOUBLE, PRIMARY KEY (`pid`, `load`)) WITHOUT ROWID"
	if got := testSpec.CreateTableSQL(); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if got := testSpec.DeclareSQL(); strings.Contains(got, "PRIMARY KEY") || strings.Contains(got, "WITHOUT ROWID") {
		t.Fatalf("declared key: %s", got)
	}
	onlyAdditional := Spec{Name: "u", Columns: []Column{Text("a").Additional(), Text("b")}}
	if got := onlyAdditional.CreateTableSQL(); got != "CREATE TABLE u(`a` TEXT, `b` TEXT, PRIMARY KEY (`a`, `b`)) WITHOUT ROWID" {
		t.Fatalf("additional-only key: %s", got)
	}
}

func TestSpecValidation(t *testing.T) {
	for _, s := range []Spec{
		{Name: "bad name", Columns: []Column{Text("a")}},
		{Name: "x"},
		{Name: "x", Columns: []Column{Text("a"), Text("a")}},
		{Name: "x", Columns: []Column{{Name: "a"}}},
		{Name: "x", Columns: []Column{Text("a")}, Attributes: EventSubscriber},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func TestQueryHelpers(t *testing.T) {
	q := NewQuery(nil, &testSpec)
	q.AddNamed("pid", Constraint{Op: OpEq, Expr: "5"})
	q.AddNamed("pid", Constraint{Op: OpEq, Expr: "5"})
	q.AddNamed("pid", Constraint{Op: OpEq, Expr: "7.0"})
	q.AddNamed("pid", Constraint{Op: OpEq, Expr: "x"})
	q.AddNamed("pid", Constraint{Op: OpGt, Expr: "1"})
	q.AddNamed("nosuch", Constraint{Op: OpEq, Expr: "1"})
	if got := q.EqualsInt("pid"); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Fatalf("EqualsInt %v", got)
	}
	if !q.HasOp("pid", OpGt) || q.HasOp("pid", OpLike) || q.Has("name") {
		t.Fatal("HasOp/Has")
	}
	q.SetUsed(1 << 1)
	if q.Used("pid") || !q.Used("name") || !q.UsedAny("load", "name") {
		t.Fatal("Used")
	}
}

// A generator that stops early when the consumer does.
func TestCursorStopsGenerator(t *testing.T) {
	emitted := 0
	d, err := New(Spec{Name: "n", Columns: []Column{BigInt("i")}}, func(ctx context.Context, q *Query, emit func(struct {
		I int64 `col:"i"`
	})) error {
		for i := int64(0); i < 1000; i++ {
			if ctx.Err() != nil {
				return nil
			}
			emitted++
			emit(struct {
				I int64 `col:"i"`
			}{i})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Open(context.Background(), NewQuery(nil, &d.Spec))
	c.Next()
	c.Next()
	c.Close()
	if emitted > 3 {
		t.Fatalf("generator ran on after Close: %d rows", emitted)
	}
}

func TestRowCodecRoundTrip(t *testing.T) {
	in := goodRow{PID: -42, Name: "bad\xffbytes \"q\"\n", Size: Int(1 << 40), Load: 0.25}
	b, err := EncodeRow(nil, &testSpec, &in)
	if err != nil {
		t.Fatal(err)
	}
	var out goodRow
	if err := DecodeRow(b, &testSpec, &out); err != nil || out != in {
		t.Fatalf("round trip: %v %+v", err, out)
	}
	// NULL survives, and a row from a table with other columns decodes.
	in.Size = NullInt{}
	b, _ = EncodeRow(nil, &testSpec, &in)
	older := Spec{Name: "t", Columns: []Column{BigInt("pid"), Text("gone")}}
	type olderRow struct {
		PID  int64  `col:"pid"`
		Gone string `col:"gone"`
	}
	ob, _ := EncodeRow(nil, &older, &olderRow{PID: 7, Gone: "x"})
	out = goodRow{}
	if err := DecodeRow(ob, &testSpec, &out); err != nil || out.PID != 7 || out.Name != "" {
		t.Fatalf("older row: %v %+v", err, out)
	}
	out = goodRow{}
	DecodeRow(b, &testSpec, &out)
	if out.Size.Valid {
		t.Fatal("NULL decoded as a value")
	}
	// Truncations never panic and report corruption.
	for i := 0; i < len(b); i++ {
		var r goodRow
		_ = DecodeRow(b[:i], &testSpec, &r)
	}
	if err := DecodeRow([]byte{3, 'p', 'i', 'd', 9}, &testSpec, &out); err == nil {
		t.Fatal("bad kind accepted")
	}
}

func FuzzDecodeRow(f *testing.F) {
	b, _ := EncodeRow(nil, &testSpec, &goodRow{PID: 1, Name: "x", Size: Int(3), Load: 1})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r goodRow
		_ = DecodeRow(data, &testSpec, &r)
	})
}
