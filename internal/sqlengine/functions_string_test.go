package sqlengine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestSplit(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sql.cpp).
		{"split('/foo/bar', '/', 0)", "foo"},
		{"split('/foo/bar', '/', 1)", "bar"},
		{"split('/foo/bar', '/', 2)", fnNull},
		{"split('foo;;bar', ';;', 0)", "foo"},
		{"split('foo;;bar', ';;', 1)", "bar"},
		{"split('foo;;bar', ';;', 2)", fnNull},
		{"split('foo;;bar', '', 0)", fnErr("Invalid input to split function")},
		// Examples from osquery's source comments.
		{"split('192.168.0.1', '.', 1)", "168"},
		{"split('192.168.0.1', '.0', 0)", "192"},
		{"split('192.168.0.1', '.0', 1)", "168"},
		{"split('192.168.0.1', '.0', 2)", "1"},
		// Any character of tokens splits; empty pieces are dropped before
		// trimming, so a piece of spaces stays as "".
		{"split('a, b,,c', ',', 1)", "b"},
		{"split('a, b,,c', ',', 2)", "c"},
		{"split('a, ,b', ',', 1)", ""},
		{"split('a, ,b', ',', 2)", "b"},
		{"split('  padded  |x', '|', 0)", "padded"},
		{"split(' \t\r\nx', '|', 0)", "x"},
		{"split('abc', 'x', 0)", "abc"},
		{"split('', 'x', 0)", fnNull},
		{"split('xxx', 'x', 0)", fnNull},
		// Index handling: negative and 32-bit wrap (sqlite3_value_int).
		{"split('a b', ' ', -1)", fnNull},
		{"split('a b', ' ', 4294967296)", "a"},
		{"split('a b', ' ', '1')", "b"},
		{"split('a b', ' ', 1.9)", "b"},
		// Non-text arguments use their text form.
		{"split(12345, 3, 1)", "45"},
		// NULL anywhere gives NULL.
		{"split(NULL, ',', 0)", fnNull},
		{"split('a', NULL, 0)", fnNull},
		{"split('a', ',', NULL)", fnNull},
		// Multi-byte separators are whole characters.
		{"split('aébàc', 'é', 1)", "bàc"},
		{"split('x→y→z', '→', 2)", "z"},
	})
}

func TestSplitHostileInput(t *testing.T) {
	db, _ := fnTestDB(t)
	// Invalid UTF-8: bytes that are not valid characters still split when
	// the token holds the same byte, and never panic.
	fnCheck(t, db, []fnCase{
		{"split(cast(x'61ff62' as text), cast(x'ff' as text), 1)", "b"},
		{"hex(split(cast(x'61ff62c3' as text), ',', 0))", "61FF62C3"},
		{"split(cast(x'610062' as text), cast(x'00' as text), 1)", "b"},
		{"split(x'0102', x'01', 0)", "\x02"},
	})
	// A large input with many separators.
	v := fnOne(t, db, "select split(replace(hex(zeroblob(500000)), '0', 'a,'), ',', 999999)")
	if v.Kind != Text || v.Str != "a" {
		t.Fatalf("large split: %s", fnShowValue(v))
	}
	v = fnOne(t, db, "select split(replace(hex(zeroblob(500000)), '0', 'a,'), ',', 1000000)")
	if v.Kind != Null {
		t.Fatalf("large split past the end: %s", fnShowValue(v))
	}
}

func TestSplitPieceAgainstSimpleModel(t *testing.T) {
	// splitPiece must agree with a direct reimplementation of
	// osquery::split on ASCII input.
	model := func(s, tokens string) []string {
		var out []string
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(tokens, r) }) {
			out = append(out, strings.Trim(p, " \t\n\v\f\r"))
		}
		return out
	}
	inputs := []string{"", ",", ",,a,,", "a b\tc", " , x ,", "a;b,c;;d", "  ", "a", ";a;"}
	for _, s := range inputs {
		for _, tokens := range []string{",", ";,", " ", "\t ", "ab"} {
			want := model(s, tokens)
			for n := int64(0); n <= int64(len(want)); n++ {
				got, ok := splitPiece(s, tokens, n)
				if n == int64(len(want)) {
					if ok {
						t.Errorf("split(%q, %q, %d) = %q, want NULL", s, tokens, n, got)
					}
					continue
				}
				if !ok || got != want[n] {
					t.Errorf("split(%q, %q, %d) = %q %v, want %q", s, tokens, n, got, ok, want[n])
				}
			}
		}
	}
}

func TestConcat(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases; osquery's test rows show NULL as "".
		{"concat()", fnNull},
		{"concat('hello')", "hello"},
		{"concat('hello', 'world')", "helloworld"},
		{"concat('hello', NULL, 'world')", "helloworld"},
		{"concat(1, 2, 3, 'go')", "123go"},
		{"concat('')", ""},
		{"concat(NULL)", ""},
		{"concat(1.5, x'41')", "1.5A"},
	})
}

func TestConcatWS(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases.
		{"concat_ws('')", fnNull},
		{"concat_ws(NULL)", fnNull},
		{"concat_ws(', ', 'hello', 'world', 1, 2, 3)", "hello, world, 1, 2, 3"},
		{"concat_ws('', 'hello', 'world', 1, 2, 3)", "helloworld123"},
		{"concat_ws(NULL, 'hello', 'world', 1, 2, 3)", "helloworld123"},
		{"concat_ws(' ', 'hello', NULL, 'world')", "hello world"},
		{"concat_ws('x', 'hello')", "hello"},
		{"concat_ws('x', '', '')", "x"},
		{"concat_ws()", fnErr("Missing separator to concat_ws")},
		// osquery's separator placement: a trailing NULL leaves the
		// separator behind, a leading one does not.
		{"concat_ws('-', 'a', NULL)", "a-"},
		{"concat_ws('-', NULL, 'a')", "a"},
		{"concat_ws('-', NULL, NULL)", ""},
	})
}

func TestConcatTooBig(t *testing.T) {
	db, _ := fnTestDB(t)
	// Lower the connection's length limit so the test needs no gigabytes:
	// the function must refuse before building an oversized result.
	db.conn.Limit(sqlite3.LIMIT_LENGTH, 100)
	fnCheck(t, db, []fnCase{
		{"length(concat(printf('%.60c', 'a'), printf('%.39c', 'b')))", 99},
		{"length(concat_ws('-', printf('%.50c', 'a'), printf('%.49c', 'b')))", 100},
		{"concat(printf('%.60c', 'a'), printf('%.60c', 'b'))", fnErr("string or blob too big")},
		{"concat_ws('-', printf('%.50c', 'a'), printf('%.50c', 'b'))", fnErr("string or blob too big")},
	})
}

// fnBenchLoop runs expr (which may use the row number i, so SQLite cannot
// factor a deterministic call out) for 1000 rows per iteration.
func fnBenchLoop(b *testing.B, expr string) {
	db, _ := fnTestDB(b)
	stmt := fmt.Sprintf("with recursive c(i) as (select 1 union all select i+1 from c where i < 1000) select count(%s) from c", expr)
	if v := fnOne(b, db, stmt); v.Int != 1000 {
		b.Fatalf("%s: %s non-NULL results, want 1000", expr, fnShowValue(v))
	}
	b.ResetTimer()
	for range b.N {
		if _, err := db.Query(b.Context(), stmt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/row")
}

func BenchmarkSplit(b *testing.B) {
	fnBenchLoop(b, "split('/usr/lib/' || i || '/x86_64-linux-gnu/libc.so.6', '/', 2)")
}

// BenchmarkSplitBaseline is the same loop with a built-in function, to
// tell the function's cost from the loop's.
func BenchmarkSplitBaseline(b *testing.B) {
	fnBenchLoop(b, "substr('/usr/lib/' || i || '/x86_64-linux-gnu/libc.so.6', 2, 3)")
}
