package jsonw

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            `"plain"`,
		`a"b\c`:            `"a\"b\\c"`,
		"tab\tnl\ncr\r":    `"tab\tnl\ncr\r"`,
		"\x01\x1f":         `"\u0001\u001F"`,
		"/usr/bin":         `"/usr/bin"`,
		"héllo ✓":          `"héllo ✓"`,
		"bad\xff\xfebytes": `"bad\uFFFD\uFFFDbytes"`,
		"":                 `""`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("%q: got %s want %s", in, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\n\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q produced invalid JSON %s: %v", s, out, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}
