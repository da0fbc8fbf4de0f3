package sqlengine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRegexMatch(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sql.cpp).
		{"regex_match('hello world', '(l)(o).*', 0)", "lo world"},
		{"regex_match('hello world', '(l)(o).*', 1)", "l"},
		{"regex_match('hello world', '(l)(o).*', 2)", "o"},
		{"regex_match('hello world', '(l)(o).*', 3)", fnNull},
		{"regex_match('hello world', 'no match', 0)", fnNull},
		{"regex_match('hello world', '(\\w+) .*(or|ld)', 0)", "hello world"},
		{"regex_match('hello world', '(\\w+) .*(or|ld)', 1)", "hello"},
		{"regex_match('hello world', '(\\w+) .*(or|ld)', 2)", "ld"},
		{"regex_match('hello world', '(\\w+) .*(or|ld)', 3)", fnNull},
		{"regex_match('/filesystem/path/download.extension.zip', '.+/([^./]+)', 1)", "download"},
		{"regex_match('hello world', '', 0)", ""},
		{"regex_match('foo/bar', '(/', 0)", fnErr("Invalid regex")},
		{"regex_match('foo/bar', '+', 0)", fnErr("Invalid regex")},
		{"regex_match('foo/bar', '|', 0)", ""},
		// A group that did not take part in the match is "".
		{"regex_match('ac', 'a(b)?c', 1)", ""},
		{"regex_match('ac', 'a(b)?c', 2)", fnNull},
		{"regex_match('abc', 'b', -1)", fnNull},
		{"regex_match(NULL, 'a', 0)", fnNull},
		{"regex_match('a', NULL, 0)", fnNull},
		{"regex_match('a', 'a', NULL)", fnNull},
		// The first match, leftmost-first like ECMAScript.
		{"regex_match('xabcabc', 'a(b|bc)', 0)", "ab"},
		{"regex_match('2024-01-02', '(\\d+)-(\\d+)-(\\d+)', 3)", "02"},
		// Non-UTF-8 input matches without error.
		{"hex(regex_match(cast(x'41ff42' as text), 'A.B', 0))", "41FF42"},
		// ECMAScript features RE2 lacks are invalid patterns here.
		{"regex_match('aa', '(a)\\1', 0)", fnErr("Invalid regex")},
		{"regex_match('ab', 'a(?=b)', 0)", fnErr("Invalid regex")},
	})
}

func TestRegexSplit(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases.
		{"regex_split('/foo/bar', '/', 0)", ""},
		{"regex_split('/foo/bar', '/', 1)", "foo"},
		{"regex_split('/foo/bar', '/', 2)", "bar"},
		{"regex_split('/foo/bar', '/', 3)", fnNull},
		{"regex_split('foo;;bar', ';;', 0)", "foo"},
		{"regex_split('foo;;bar', ';;', 1)", "bar"},
		{"regex_split('foo;;bar', ';;', 2)", fnNull},
		{"regex_split('foo;bar//qux', '(;|/)+', 0)", "foo"},
		{"regex_split('foo;bar//qux', '(;|/)+', 1)", "bar"},
		{"regex_split('foo;bar//qux', '(;|/)+', 2)", "qux"},
		{"regex_split('foo;bar//qux', '(;|/)+', 3)", fnNull},
		{"regex_split('/filesystem/path/download.extension.zip', '(.*/)|(.extension.zip)', 1)", "download"},
		{"regex_split('foo/bar', '', 0)", fnErr("Invalid input to split function")},
		{"regex_split('foo/bar', '(/', 0)", fnErr("Invalid regex")},
		{"regex_split('foo/bar', '+', 0)", fnErr("Invalid regex")},
		{"regex_split('foo/bar', '|', 0)", ""},
		// Token iterator rules: no match gives the whole input (even ""),
		// a trailing separator gives no empty last piece.
		{"regex_split('abc', 'x', 0)", "abc"},
		{"regex_split('', 'x', 0)", ""},
		{"regex_split('abc', 'x', 1)", fnNull},
		{"regex_split('a/', '/', 0)", "a"},
		{"regex_split('a/', '/', 1)", fnNull},
		{"regex_split('a//b', '/', 1)", ""},
		{"regex_split('a//b', '/', 2)", "b"},
		{"regex_split('a b', ' ', -1)", fnNull},
		{"regex_split(NULL, 'a', 0)", fnNull},
		{"regex_split('a', NULL, 0)", fnNull},
		{"regex_split('a', 'a', NULL)", fnNull},
		{"regex_split('a', 'a', 1048577)", fnErr("regex_split: piece index above 1048576 is not supported")},
	})
}

func TestRegexMaxSize(t *testing.T) {
	db, _ := fnTestDB(t)
	at := strings.Repeat("a", 256)
	over := strings.Repeat("a", 257)
	fnCheck(t, db, []fnCase{
		{fmt.Sprintf("regex_match('x', %s, 0)", fnQuote(at)), fnNull},
		{fmt.Sprintf("regex_match('x', %s, 0)", fnQuote(over)), fnErr("Invalid regex: too big, max size is 256 bytes")},
		{fmt.Sprintf("regex_split('x', %s, 0)", fnQuote(at)), "x"},
		{fmt.Sprintf("regex_split('x', %s, 0)", fnQuote(over)), fnErr("Invalid regex")},
		// osquery's test: 100000 '|' characters.
		{fmt.Sprintf("regex_match('foo/bar', %s, 0)", fnQuote(strings.Repeat("|", 100000))), fnErr("Invalid regex: too big, max size is 256 bytes")},
	})
	// The flag is read per call: raising it admits the longer pattern.
	if err := db.Env().Flags.Set("regex_max_size", "300"); err != nil {
		t.Fatal(err)
	}
	fnCheck(t, db, []fnCase{
		{fmt.Sprintf("regex_match('x', %s, 0)", fnQuote(over)), fnNull},
		{fmt.Sprintf("regex_match('x', %s, 0)", fnQuote(strings.Repeat("a", 301))), fnErr("Invalid regex: too big, max size is 300 bytes")},
	})
}

// TestRegexHostilePatterns: patterns that make backtracking engines take
// exponential time, and huge repetition counts, finish quickly or fail.
func TestRegexHostilePatterns(t *testing.T) {
	db, _ := fnTestDB(t)
	start := time.Now()
	fnCheck(t, db, []fnCase{
		{fmt.Sprintf("regex_match(%s, '(a+)+$', 0)", fnQuote(strings.Repeat("a", 5000)+"!")), fnNull},
		{fmt.Sprintf("regex_match(%s, '(a|aa)*b', 0)", fnQuote(strings.Repeat("a", 5000))), fnNull},
		{"regex_match('a', 'a{100000}', 0)", fnErr("Invalid regex")},
		{"regex_match('a', '((((a{100}){100}){100}){100})', 0)", fnErr("Invalid regex")},
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("hostile patterns took %v", d)
	}
	// A pattern matching everywhere over a large input, asking for a
	// piece near the end.
	v := fnOne(t, db, "select length(regex_split(hex(zeroblob(100000)), 'x*', 199999))")
	if v.Kind != Integer || v.Int != 1 {
		t.Fatalf("empty-matching split: %s", fnShowValue(v))
	}
}

func TestRegexCacheBounded(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		{"count(regex_match('x' || value, 'x' || value || '$', 0)) from generate_series(1, 1000)", 1000},
	})
	regexCache.Lock()
	n, m := len(regexCache.m), len(regexCache.order)
	regexCache.Unlock()
	if n > regexCacheSize || m > regexCacheSize || n != m {
		t.Fatalf("cache holds %d patterns (%d in order), bound %d", n, m, regexCacheSize)
	}
	// Still correct after evictions, for cached errors too.
	for range 2 {
		fnCheck(t, db, []fnCase{
			{"regex_match('x5', 'x5$', 0)", "x5"},
			{"regex_match('x', '(', 0)", fnErr("Invalid regex")},
		})
	}
}

func TestRegexConcurrentConnections(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		db, _ := fnTestDB(t)
		wg.Go(func() {
			for i := range 200 {
				want := fmt.Sprint(g*1000 + i%150)
				v, err := db.Query(t.Context(), fmt.Sprintf("select regex_match('n=%s;', 'n=(\\d+);', 1)", want))
				if err != nil || v.Rows[0][0].Str != want {
					t.Errorf("got %v %v, want %s", v, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRegexMatch(b *testing.B) {
	fnBenchLoop(b, "regex_match('pid=' || i || ' comm=bash', 'pid=(\\d+) comm=(\\w+)', 1)")
}

func BenchmarkRegexSplit(b *testing.B) {
	fnBenchLoop(b, "regex_split('/usr/lib/' || i || '/libc.so.6', '/+', 3)")
}
