package config

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// fuzzSeeds are configs and fragments exercising every parser.
var fuzzSeeds = []string{
	`{}`,
	`{"options": {"verbose": true, "x": 1.5, "o": {"a": [1]}, "n": null}}`,
	`{"schedule": {"q": {"query": "select 1", "interval": "60", "snapshot": "t", "platform": "linux", "version": "5.0", "shard": 50, "startup_priority": 1}}}`,
	`{"packs": {"p": {"discovery": ["select 1"], "queries": {"q": {"query": "select 1"}}}, "s": "/nonexistent", "*": "/nonexistent/%.conf"}}`,
	`{"packs": {"*": {"a": {"queries": {}}, "b": 1}}}`,
	`{"decorators": {"load": ["select 1"], "interval": {"60": ["select 2"], "x": []}}}`,
	`{"events": {"enable_subscribers": ["a"]}, "views": {"v": "select 1"}, "file_paths": {"a": ["/tmp/%%"]}}`,
	"# c\n// c\n{\"a\": \"b\\\nc\"}\n",
	`{"a": "\ud83d\ude00\u0000"}`,
	strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33),
	`[1, 2, {"a": -0.5e-3}]`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("testdata/product_example.conf"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := DefaultParseOptions()
		o.Hostname = "fuzz"
		o.SetOption = func(name, value string) error { return nil }
		o.GenPack = func(name, value string) ([]byte, error) { return data, nil }
		cfg, _, err := Parse(map[string][]byte{"a": data, "b": []byte(`{"options": {"pack_delimiter": "/"}}`)}, o)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if len(cfg.Hash) != 40 {
			t.Fatalf("hash %q", cfg.Hash)
		}
		for _, q := range cfg.ScheduledQueries() {
			if q.Interval == 0 || q.Interval > MaxInterval || q.SQL == "" {
				t.Fatalf("invalid query kept: %+v", q)
			}
		}
		for _, x := range cfg.Extra {
			for _, v := range x {
				if !json.Valid([]byte(v.JSON)) {
					t.Fatalf("extra value is not JSON: %q", v.JSON)
				}
			}
		}
	})
}

// FuzzParseJSON checks the config JSON reader against encoding/json: what
// it accepts Go accepts too, and what it serializes is valid JSON.
func FuzzParseJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parseJSON(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if out := doc.root.compact(false); !json.Valid([]byte(out)) {
			t.Fatalf("compact %q -> invalid %q", data, out)
		}
		if out := doc.root.compact(true); !json.Valid([]byte(out)) {
			t.Fatalf("stringify %q -> invalid %q", data, out)
		}
		// Every member key and string decodes without panicking.
		for _, m := range doc.root.members() {
			_ = m.val.str()
			_ = m.val.elems()
		}
	})
}

func FuzzStripComments(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := StripComments(data)
		if len(out) > len(data)+1 {
			t.Fatalf("grew: %d -> %d", len(data), len(out))
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("last line not terminated: %q", out)
		}
		// Every kept line is trimmed and is not a comment.
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte{'\n'}), []byte{'\n'}) {
			if !bytes.Equal(line, bytes.Trim(line, stripSpace)) || bytes.HasPrefix(line, []byte("#")) || bytes.HasPrefix(line, []byte("//")) {
				t.Fatalf("line %q kept from %q", line, data)
			}
		}
	})
}
