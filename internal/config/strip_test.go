package config

import "testing"

func TestStripComments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"{}", "{}\n"},
		{"{}\n", "{}\n"},
		{"{}\n\n", "{}\n\n"},
		{"# a\n{\n  // b\n  \"a\": 1\n}\n", "{\n\"a\": 1\n}\n"},
		// Indented comments and tabs count; CRLF lines are trimmed.
		{"\t  # x\r\n{}\r\n", "{}\n"},
		// Only whole lines: a trailing comment stays (and breaks the JSON).
		{"{\"a\": 1 // no\n}", "{\"a\": 1 // no\n}\n"},
		// A single slash is not a comment.
		{"/\n", "/\n"},
		// Backslash-newline pairs are removed first, joining lines, so a
		// comment line continued onto the next swallows it.
		{"{\"a\": \"x\\\ny\"}", "{\"a\": \"xy\"}\n"},
		{"# comment \\\n\"still comment\"\n{}", "{}\n"},
		// A string holding a '#' on its own line is kept.
		{"[\n\"#not\"\n]", "[\n\"#not\"\n]\n"},
		{"\\\n\\\n", ""},
	} {
		if got := string(StripComments([]byte(c.in))); got != c.want {
			t.Errorf("StripComments(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
