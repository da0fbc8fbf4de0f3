package distributed

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseWork(t *testing.T) {
	parse := func(s string) (*work, error) {
		var ans map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &ans); err != nil {
			t.Fatal(err)
		}
		return parseWork(ans)
	}
	w, err := parse(`{"queries":{"b":"select 2","a":"select 1","\u00ff\ud800":"x"},"discovery":null,"accelerate":-5,"node_invalid":false}`)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, q := range w.queries {
		ids = append(ids, q.id)
	}
	// Sorted; an unpaired surrogate decodes to U+FFFD, never to a byte
	// that would collide with the stored results' prefix.
	if !slices.Equal(ids, []string{"a", "b", "\u00ff\uFFFD"}) || !w.hasAccelerate || w.accelerate != -5 {
		t.Errorf("parsed %+v", w)
	}
	for _, s := range []string{`{}`, `{"queries":null}`, `{"queries":{}}`} {
		if w, err := parse(s); err != nil || len(w.queries) != 0 {
			t.Errorf("%s: %v %v", s, w, err)
		}
	}
	for _, s := range []string{`{"queries":[]}`, `{"queries":1}`, `{"queries":{"a":null}}`, `{"discovery":{"a":1}}`, `{"discovery":{"a":""}}`} {
		if _, err := parse(s); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v", s, err)
		}
	}
	for raw, ok := range map[string]bool{"0": true, "2147483647": true, "-2147483648": true, "2147483648": false, "1.0": false, "1e2": false, `"1"`: false, "null": false} {
		_, err := jsonInt32(json.RawMessage(raw))
		if (err == nil) != ok {
			t.Errorf("jsonInt32(%s): %v", raw, err)
		}
	}
}

// FuzzParseWork feeds read answers to the parser: it must not panic, and
// what it accepts must be complete, sorted and valid UTF-8 (the store's
// result keys rely on ids never holding 0xFF).
func FuzzParseWork(f *testing.F) {
	for _, s := range []string{
		`{"queries":{"a":"select 1"},"discovery":{"a":"select 1"},"accelerate":5}`,
		`{"queries":["x"]}`, `{"queries":{"":""}}`, `{"accelerate":1e400}`, `{"queries":{"\xff":"\xfe"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ans map[string]json.RawMessage
		if json.Unmarshal(data, &ans) != nil {
			return
		}
		w, err := parseWork(ans)
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, qs := range [][]query{w.queries, w.discovery} {
			if !slices.IsSortedFunc(qs, func(a, b query) int { return strings.Compare(a.id, b.id) }) {
				t.Fatal("not sorted")
			}
			for _, q := range qs {
				if q.id == "" || q.sql == "" || !utf8.ValidString(q.id) || strings.Contains(q.id, "\xff") {
					t.Fatalf("accepted %q: %q", q.id, q.sql)
				}
			}
		}
	})
}

// FuzzDecodeMeta checks that a damaged stored result is refused, never a
// panic, and that what decodes encodes back to the same fields.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(&result{status: 1, message: "m", perf: &perf{1, 2, 3, 4}}, 2, 100))
	f.Add(encodeMeta(&result{message: ""}, 1, 2))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, chunks, size, err := decodeMeta("id", data)
		if err != nil {
			return
		}
		r2, c2, s2, err := decodeMeta("id", encodeMeta(r, chunks, size))
		if err != nil || c2 != chunks || s2 != size || r2.status != r.status || r2.message != r.message ||
			(r.perf == nil) != (r2.perf == nil) || (r.perf != nil && *r.perf != *r2.perf) {
			t.Fatalf("round trip %+v %d %d -> %+v %d %d %v", r, chunks, size, r2, c2, s2, err)
		}
	})
}
