package distributed

import (
	"strconv"

	"github.com/gosquery/gosquery/internal/jsonw"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/sqlengine"
)

// rowEncoder writes result rows as the JSON objects of a distributed
// write: keys in SELECT order (osquery's ColumnNames, not the sorted map
// of the logs), every value a string. The keys are rendered once per
// statement, and each row is appended straight to the results buffer.
type rowEncoder struct {
	// keys[i] is `"name":` (with a leading comma after the first) and
	// src[i] the value index it takes.
	keys []string
	src  []int
	null string
}

// setColumns prepares the keys of a statement's rows. osquery's rows are
// maps, so a name selected twice has one value, the last one; it is
// written once, at its first place.
func (e *rowEncoder) setColumns(cols []string) {
	last := make(map[string]int, len(cols))
	for i, c := range cols {
		last[c] = i
	}
	e.keys, e.src = e.keys[:0], e.src[:0]
	done := make(map[string]bool, len(cols))
	var b []byte
	for _, c := range cols {
		if done[c] {
			continue
		}
		done[c] = true
		b = b[:0]
		if len(e.keys) > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, c)
		e.keys = append(e.keys, string(append(b, ':')))
		e.src = append(e.src, last[c])
	}
}

func (e *rowEncoder) appendRow(dst []byte, vals []sqlengine.Value) []byte {
	dst = append(dst, '{')
	for i, k := range e.keys {
		dst = append(dst, k...)
		dst = appendValue(dst, &vals[e.src[i]], e.null)
	}
	return append(dst, '}')
}

// appendValue writes a cell as osquery's rows() gives it: integers in
// decimal, reals as castVariant renders them (logger.FormatReal), text and
// blobs as they are, NULL as --nullvalue; always a JSON string, escaped by
// jsonw (invalid UTF-8 becomes U+FFFD, so the request is always JSON).
func appendValue(dst []byte, v *sqlengine.Value, null string) []byte {
	switch v.Kind {
	case sqlengine.Integer:
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, v.Int, 10)
		return append(dst, '"')
	case sqlengine.Float:
		return jsonw.AppendString(dst, logger.FormatReal(v.Float))
	case sqlengine.Text, sqlengine.Blob:
		return jsonw.AppendString(dst, v.Str)
	}
	return jsonw.AppendString(dst, null)
}
