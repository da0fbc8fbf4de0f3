package config

import "bytes"

// StripComments removes what osquery's stripConfigComments removes before a
// config or pack is parsed: every backslash-newline pair, then every line
// whose trimmed text starts with '#' or "//". Kept lines are trimmed and end
// in '\n'. A comment after JSON on the same line is not recognised (osquery
// does not either), and neither is a /* block */.
func StripComments(data []byte) []byte {
	data = bytes.ReplaceAll(data, []byte("\\\n"), nil)
	out := make([]byte, 0, len(data)+1)
	for len(data) > 0 {
		// std::getline semantics: a trailing newline ends the last line
		// rather than starting an empty one.
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		t := bytes.Trim(line, stripSpace)
		if len(t) > 0 && t[0] == '#' {
			continue
		}
		if len(t) > 1 && t[0] == '/' && t[1] == '/' {
			continue
		}
		out = append(out, t...)
		out = append(out, '\n')
	}
	return out
}

// stripSpace is what osquery's trim() removes around each line.
const stripSpace = " \t\n\v\f\r"
