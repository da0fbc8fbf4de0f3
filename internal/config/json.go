package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// The config is read with a small JSON reader of its own rather than
// encoding/json because osquery's (RapidJSON) behaviour is observable:
// object members keep their order and duplicates, numbers keep the integer
// or double nature that decides how "options" and "interval" convert, and a
// lone UTF-16 surrogate or an out-of-range number is a parse error. The
// reader validates a document in one iterative pass (no recursion, so a
// hostile nesting depth costs a byte per level, not a stack frame) and then
// hands out views into the validated text; nothing is decoded until a
// parser asks for it.

// errJSONSyntax is any document RapidJSON would refuse.
var errJSONSyntax = errors.New("invalid JSON")

// jsonMaxDepth is osquery's kMaxConfigDepth: a value nested at this level
// (the root object is level 0) makes the config invalid.
const jsonMaxDepth = 32

// jsonDoc is a validated document.
type jsonDoc struct {
	root jsonNode
	// maxLevel is the nesting level of the deepest value (root = 0).
	maxLevel int
}

// parseJSON validates data as one JSON value (surrounded by optional
// whitespace) and returns a view of it.
func parseJSON(data []byte) (jsonDoc, error) {
	i := jsonSkipWS(data, 0)
	if i >= len(data) {
		return jsonDoc{}, errJSONSyntax
	}
	start := i
	var stack []byte // '{' or '[' per open container
	maxLevel := 0

value:
	if i >= len(data) {
		return jsonDoc{}, errJSONSyntax
	}
	if len(stack) > maxLevel {
		maxLevel = len(stack)
	}
	switch c := data[i]; {
	case c == '{':
		stack = append(stack, '{')
		i = jsonSkipWS(data, i+1)
		if i < len(data) && data[i] == '}' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto key
	case c == '[':
		stack = append(stack, '[')
		i = jsonSkipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto value
	case c == '"':
		end, ok := jsonScanString(data, i)
		if !ok {
			return jsonDoc{}, errJSONSyntax
		}
		i = end
	case c == 't':
		if !hasPrefixAt(data, i, "true") {
			return jsonDoc{}, errJSONSyntax
		}
		i += 4
	case c == 'f':
		if !hasPrefixAt(data, i, "false") {
			return jsonDoc{}, errJSONSyntax
		}
		i += 5
	case c == 'n':
		if !hasPrefixAt(data, i, "null") {
			return jsonDoc{}, errJSONSyntax
		}
		i += 4
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := jsonScanNumber(data, i)
		if !ok {
			return jsonDoc{}, errJSONSyntax
		}
		i = end
	default:
		return jsonDoc{}, errJSONSyntax
	}

after:
	i = jsonSkipWS(data, i)
	if len(stack) == 0 {
		if i != len(data) {
			// RapidJSON: "The document root must not be followed by other values."
			return jsonDoc{}, errJSONSyntax
		}
		end := len(data)
		for end > start && isJSONSpace(data[end-1]) {
			end--
		}
		return jsonDoc{root: jsonNode(data[start:end]), maxLevel: maxLevel}, nil
	}
	if i >= len(data) {
		return jsonDoc{}, errJSONSyntax
	}
	switch top := stack[len(stack)-1]; {
	case data[i] == ',':
		i = jsonSkipWS(data, i+1)
		if top == '{' {
			goto key
		}
		goto value
	case (top == '{' && data[i] == '}') || (top == '[' && data[i] == ']'):
		stack = stack[:len(stack)-1]
		i++
		goto after
	default:
		return jsonDoc{}, errJSONSyntax
	}

key:
	if i >= len(data) || data[i] != '"' {
		return jsonDoc{}, errJSONSyntax
	}
	{
		end, ok := jsonScanString(data, i)
		if !ok {
			return jsonDoc{}, errJSONSyntax
		}
		i = jsonSkipWS(data, end)
	}
	if i >= len(data) || data[i] != ':' {
		return jsonDoc{}, errJSONSyntax
	}
	i = jsonSkipWS(data, i+1)
	goto value
}

func hasPrefixAt(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func jsonSkipWS(data []byte, i int) int {
	for i < len(data) && isJSONSpace(data[i]) {
		i++
	}
	return i
}

func hex4(data []byte, i int) (rune, bool) {
	if len(data)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// jsonScanString validates the string literal starting at data[i] == '"'
// and returns the index after its closing quote. Like RapidJSON it refuses
// raw control characters, unknown escapes and broken surrogate pairs, and
// passes any other byte (including invalid UTF-8) through.
func jsonScanString(data []byte, i int) (int, bool) {
	i++
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if i+1 >= len(data) {
				return 0, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(data, i+2)
				if !ok {
					return 0, false
				}
				i += 6
				if r >= 0xD800 && r <= 0xDBFF {
					if !hasPrefixAt(data, i, `\u`) {
						return 0, false
					}
					r2, ok := hex4(data, i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return 0, false
					}
					i += 6
				} else if r >= 0xDC00 && r <= 0xDFFF {
					return 0, false
				}
			default:
				return 0, false
			}
		default:
			i++
		}
	}
	return 0, false
}

// jsonScanNumber validates the number starting at data[i] and returns the
// index after it. A number too large for a double is an error, as in
// RapidJSON (kParseErrorNumberTooBig).
func jsonScanNumber(data []byte, i int) (int, bool) {
	start := i
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if digits() == 0 {
		return 0, false
	}
	isInt := true
	if i < len(data) && data[i] == '.' {
		i++
		isInt = false
		if digits() == 0 {
			return 0, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		isInt = false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, false
		}
	}
	lit := string(data[start:i])
	if isInt {
		if _, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return i, true
		}
		if _, err := strconv.ParseUint(lit, 10, 64); err == nil {
			return i, true
		}
	}
	if f, err := strconv.ParseFloat(lit, 64); math.IsInf(f, 0) || (err != nil && !errors.Is(err, strconv.ErrRange)) {
		return 0, false
	}
	return i, true
}

// jsonNode is the exact text of one value inside a validated document.
type jsonNode []byte

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (n jsonNode) kind() jsonKind {
	if len(n) == 0 {
		return jsonNull
	}
	switch n[0] {
	case '{':
		return jsonObject
	case '[':
		return jsonArray
	case '"':
		return jsonString
	case 't', 'f':
		return jsonBool
	case 'n':
		return jsonNull
	}
	return jsonNumber
}

func (n jsonNode) isContainer() bool { k := n.kind(); return k == jsonObject || k == jsonArray }

// jsonValueEnd returns the index after the value starting at data[i] in a
// validated document.
func jsonValueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return jsonStringEnd(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = jsonStringEnd(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(data) {
		switch data[i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// jsonStringEnd returns the index after the (validated) string at data[i].
func jsonStringEnd(data []byte, i int) int {
	i++
	for i < len(data) {
		switch data[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1
		}
		i++
	}
	return i
}

// jsonMember is one object member; duplicates are kept in order.
type jsonMember struct {
	key string
	val jsonNode
}

type jsonObj []jsonMember

// get returns the first member named key, as RapidJSON's FindMember does.
func (o jsonObj) get(key string) (jsonNode, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// members lists an object's members (nil for anything else).
func (n jsonNode) members() jsonObj {
	if n.kind() != jsonObject {
		return nil
	}
	var out jsonObj
	i := jsonSkipWS(n, 1)
	for i < len(n) && n[i] == '"' {
		kend := jsonStringEnd(n, i)
		key := jsonNode(n[i:kend]).str()
		i = jsonSkipWS(n, kend)
		i = jsonSkipWS(n, i+1) // ':'
		vend := jsonValueEnd(n, i)
		out = append(out, jsonMember{key: key, val: n[i:vend]})
		i = jsonSkipWS(n, vend)
		if i < len(n) && n[i] == ',' {
			i = jsonSkipWS(n, i+1)
		}
	}
	return out
}

// elems lists an array's elements (nil for anything else).
func (n jsonNode) elems() []jsonNode {
	if n.kind() != jsonArray {
		return nil
	}
	var out []jsonNode
	i := jsonSkipWS(n, 1)
	for i < len(n) && n[i] != ']' {
		vend := jsonValueEnd(n, i)
		out = append(out, n[i:vend])
		i = jsonSkipWS(n, vend)
		if i < len(n) && n[i] == ',' {
			i = jsonSkipWS(n, i+1)
		}
	}
	return out
}

// str decodes a string value ("" for anything else).
func (n jsonNode) str() string {
	if n.kind() != jsonString || len(n) < 2 {
		return ""
	}
	body := n[1 : len(n)-1]
	if !strings.ContainsRune(string(body), '\\') {
		return string(body)
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			i++
			continue
		}
		switch body[i+1] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, _ := hex4(body, i+2)
			i += 6
			if r >= 0xD800 && r <= 0xDBFF {
				r2, _ := hex4(body, i+2)
				r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
				i += 6
			}
			b.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			b.WriteByte(body[i+1])
		}
		i += 2
	}
	return b.String()
}

// cstr is str as osquery sees it through GetString(): a C string, cut at
// the first NUL that a \u0000 escape produced.
func (n jsonNode) cstr() string {
	s := n.str()
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// jsonNumber describes a number the way RapidJSON stores it: integers keep
// their (two's complement) value, doubles their IEEE-754 bits, in one
// 64-bit union.
type jsonNum struct {
	bits   uint64
	isInt  bool // fits int32 (RapidJSON IsInt)
	double bool
}

func (n jsonNode) num() jsonNum {
	lit := string(n)
	if !strings.ContainsAny(lit, ".eE") {
		if v, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return jsonNum{bits: uint64(v), isInt: v >= math.MinInt32 && v <= math.MaxInt32}
		}
		if v, err := strconv.ParseUint(lit, 10, 64); err == nil {
			return jsonNum{bits: v}
		}
	}
	f, _ := strconv.ParseFloat(lit, 64)
	return jsonNum{bits: math.Float64bits(f), double: true}
}

// valueToSize is osquery's JSON::valueToSize: a numeric string parsed with
// strtoull semantics, a number's 64 bits (so a negative number wraps and a
// double yields its bit pattern, as an assert-free RapidJSON GetUint64
// does), anything else 0.
func valueToSize(n jsonNode) uint64 {
	switch n.kind() {
	case jsonString:
		v, _ := parseSize(n.cstr())
		return v
	case jsonNumber:
		return n.num().bits
	}
	return 0
}

// parseSize is tryTo<size_t>: std::stoull over the whole string (leading
// whitespace and a sign allowed, a '-' negating modulo 2^64, nothing may
// follow the digits).
func parseSize(s string) (uint64, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || t[0] < '0' || t[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// valueToBool is osquery's JSON::valueToBool: a bool, the strings "true"
// and "t" (any case), or a number whose low 32 bits (GetInt) are non-zero.
func valueToBool(n jsonNode) bool {
	switch n.kind() {
	case jsonBool:
		return n[0] == 't'
	case jsonString:
		s := strings.ToLower(n.cstr())
		return s == "true" || s == "t"
	case jsonNumber:
		return uint32(n.num().bits) != 0
	}
	return false
}

// compact re-serializes a value the way RapidJSON's Writer does: no
// insignificant whitespace, strings re-escaped (only '"', '\\' and control
// characters), integers in canonical decimal and doubles in RapidJSON's
// shortest form. With stringify, every scalar becomes a string and an empty
// container an empty string, which is what a Boost property tree round
// trip (osquery's multi-pack reader) does to a pack.
func (n jsonNode) compact(stringify bool) string {
	var b strings.Builder
	b.Grow(len(n))
	for i := 0; i < len(n); {
		c := n[i]
		switch {
		case isJSONSpace(c):
			i++
		case c == '"':
			end := jsonStringEnd(n, i)
			writeJSONString(&b, jsonNode(n[i:end]).str())
			i = end
		case c == '{' || c == '[':
			j := jsonSkipWS(n, i+1)
			if stringify && j < len(n) && (n[j] == '}' || n[j] == ']') {
				b.WriteString(`""`)
				i = j + 1
				continue
			}
			b.WriteByte(c)
			i++
		case c == '}' || c == ']' || c == ',' || c == ':':
			b.WriteByte(c)
			i++
		default:
			end := jsonValueEnd(n, i)
			lit := jsonNode(n[i:end])
			switch {
			case stringify:
				b.WriteByte('"')
				b.Write(lit)
				b.WriteByte('"')
			case lit.kind() == jsonNumber:
				b.WriteString(lit.canonicalNumber())
			default:
				b.Write(lit)
			}
			i = end
		}
	}
	return b.String()
}

func (n jsonNode) canonicalNumber() string {
	v := n.num()
	if !v.double {
		if n[0] == '-' {
			return strconv.FormatInt(int64(v.bits), 10)
		}
		return strconv.FormatUint(v.bits, 10)
	}
	return rapidDtoa(math.Float64frombits(v.bits))
}

// rapidDtoa formats a double as RapidJSON's Writer (Grisu2 + Prettify):
// "100.0", "0.001", "1e30", "1.5e-7".
func rapidDtoa(f float64) string {
	neg := math.Signbit(f)
	if neg {
		f = -f
	}
	prefix := ""
	if neg {
		prefix = "-"
	}
	if f == 0 {
		return prefix + "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k := x - (len(digits) - 1) // value = digits × 10^k
	kk := len(digits) + k      // 10^(kk-1) <= value < 10^kk
	var s string
	switch {
	case k >= 0 && kk <= 21:
		s = digits + strings.Repeat("0", k) + ".0"
	case kk > 0 && kk <= 21:
		s = digits[:kk] + "." + digits[kk:]
	case kk > -6 && kk <= 0:
		s = "0." + strings.Repeat("0", -kk) + digits
	case len(digits) == 1:
		s = digits + "e" + strconv.Itoa(kk-1)
	default:
		s = digits[:1] + "." + digits[1:] + "e" + strconv.Itoa(kk-1)
	}
	return prefix + s
}

// writeJSONString writes s as RapidJSON's Writer escapes it.
func writeJSONString(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// jsonQuote is writeJSONString returning a string.
func jsonQuote(s string) string {
	var b strings.Builder
	writeJSONString(&b, s)
	return b.String()
}
