package logger

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the SQLite storage class of a result cell.
type Kind uint8

// Storage classes.
const (
	KindNull Kind = iota
	KindInteger
	KindReal
	KindText
	KindBlob
)

// Value is one result cell as SQLite returned it. osquery keeps INTEGER
// and REAL cells typed (logged as JSON numbers with --logger_numerics) and
// reads TEXT, BLOB and NULL as strings (NULL as --nullvalue, "" by default).
type Value struct {
	Kind Kind
	Int  int64
	Real float64
	// Str holds TEXT and BLOB bytes.
	Str string
}

// Int returns an INTEGER value.
func Int(v int64) Value { return Value{Kind: KindInteger, Int: v} }

// Real returns a REAL value.
func Real(v float64) Value { return Value{Kind: KindReal, Real: v} }

// Text returns a TEXT value.
func Text(s string) Value { return Value{Kind: KindText, Str: s} }

// Blob returns a BLOB value.
func Blob(b []byte) Value { return Value{Kind: KindBlob, Str: string(b)} }

// Null returns NULL.
func Null() Value { return Value{} }

// Column is one named cell of a row.
type Column struct {
	Name  string
	Value Value
}

// Row is a result row: column/value pairs in SELECT order. osquery stores
// rows as std::map, so logs list the columns sorted by name (bytewise), and
// a name selected twice keeps its last value; the formatters do the same.
type Row []Column

// order returns the indexes of r's columns sorted by name with duplicates
// resolved to the last one. An already sorted row, the common case once a
// caller sorts, costs one pass and no allocation.
func (r Row) order(scratch []int) []int {
	scratch = scratch[:0]
	sorted := true
	for i := 1; i < len(r); i++ {
		if r[i-1].Name >= r[i].Name {
			sorted = false
			break
		}
	}
	for i := range r {
		scratch = append(scratch, i)
	}
	if sorted {
		return scratch
	}
	slices.SortStableFunc(scratch, func(a, b int) int { return strings.Compare(r[a].Name, r[b].Name) })
	out := scratch[:0]
	for i, idx := range scratch {
		if i+1 < len(scratch) && r[scratch[i+1]].Name == r[idx].Name {
			continue
		}
		out = append(out, idx)
	}
	return out
}

// EscapeNonPrintable is osquery's escapeNonPrintableBytes, applied to every
// TEXT/BLOB cell of a differential query before it is diffed, stored and
// logged: each byte below 0x20 and each byte that does not start a valid
// UTF-8 sequence (RFC 3629: no overlongs, surrogates or code points past
// U+10FFFF) becomes the four characters \xHH, upper-case hex. Everything
// else, including DEL and valid multi-byte characters, is kept. The result
// is valid UTF-8 and escaping it again changes nothing.
func EscapeNonPrintable(s string) string {
	if !needsEscape(s) {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+16), s))
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 {
			return true
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return true
		}
		i += size
	}
	return false
}

const upperHex = "0123456789ABCDEF"

// appendEscaped appends EscapeNonPrintable(s). Go's UTF-8 decoder rejects
// exactly what osquery's isValidUtf8Sequence rejects and, like it, consumes
// one byte of an invalid sequence at a time.
func appendEscaped(dst []byte, s string) []byte { return escapeNonPrintable(dst, s, escapePlain) }

// appendEscapedJSON appends EscapeNonPrintable(s) as a JSON string in one
// pass. After escaping, the only characters JSON must escape are '"' and
// '\' (control bytes are already \xHH), so a '\' from \xHH is written '\\'.
func appendEscapedJSON(dst []byte, s string) []byte {
	dst = escapeNonPrintable(append(dst, '"'), s, escapeJSON)
	return append(dst, '"')
}

// Escaping modes, and for each the ASCII bytes copied as they are: the
// table keeps the scan loop as tight as a hand-written one per mode.
const (
	escapePlain = iota
	escapeJSON
)

var copiedAsIs = func() (t [2][utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[escapePlain][c] = true
		t[escapeJSON][c] = c != '"' && c != '\\'
	}
	return t
}()

// escapeNonPrintable is the one pass behind both: bytes below 0x20 and
// bytes of invalid UTF-8 become \xHH, and in escapeJSON mode '"' and '\'
// are escaped for a JSON string as well.
func escapeNonPrintable(dst []byte, s string, mode int) []byte {
	asIs := &copiedAsIs[mode]
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && asIs[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case mode == escapeJSON:
			dst = append(dst, '\\', '\\', 'x', upperHex[c>>4], upperHex[c&0xF])
		default:
			dst = append(dst, '\\', 'x', upperHex[c>>4], upperHex[c&0xF])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// FormatReal renders a REAL cell as osquery's castVariant does when logging
// it as a string: std::ostream at precision 15 (printf's %.15g), then ".0"
// appended when there is no '.', so 3 is "3.0", 0.1 is "0.1" and 1e+20 is,
// faithfully, "1e+20.0".
func FormatReal(f float64) string {
	return string(appendReal(nil, f))
}

func appendReal(dst []byte, f float64) []byte {
	start := len(dst)
	switch {
	case math.IsNaN(f):
		dst = append(dst, "nan"...)
	case math.IsInf(f, 1):
		dst = append(dst, "inf"...)
	case math.IsInf(f, -1):
		dst = append(dst, "-inf"...)
	default:
		dst = strconv.AppendFloat(dst, f, 'g', 15, 64)
	}
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}
