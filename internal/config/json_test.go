package config

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseJSONSyntax(t *testing.T) {
	valid := []string{
		`{}`, ` {} `, "\n{\"a\":1}\n", `[]`, `1`, `-0`, `0.5e-3`, `"x"`, `true`, `null`,
		`{"a":[1,2,{"b":null}],"a":"dup"}`,
		`"\ud83d\ude00"`, `"\u00e9\/\b\f\n\r\t\\\""`,
		`1e-400`,                   // underflows to 0, RapidJSON accepts it
		`18446744073709551615`,     // uint64 max
		`-9223372036854775808`,     // int64 min
		`123456789012345678901234`, // becomes a double
		"\"\xff\xfe raw bytes\"",   // RapidJSON does not validate UTF-8
	}
	for _, s := range valid {
		if _, err := parseJSON([]byte(s)); err != nil {
			t.Errorf("%q refused", s)
		}
	}
	invalid := []string{
		``, `   `, `{`, `}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{a:1}`, `[1 2]`, `01`, `-`, `1.`, `.5`,
		`1e`, `+1`, `1e400`, `-1e400`, `"\ud800"`, `"\ud800x"`, `"\ud800\u0041"`, `"\udc00"`,
		"\"a\nb\"", `"\x"`, `"\u12"`, `{} {}`, `nul`, `tru`, `falsey`, `{"a":1}garbage`,
		`[`, `"open`, `{"a":}`, `{,}`, `[,1]`, `NaN`, `Infinity`, `{"a":1 "b":2}`,
		strings.Repeat("[", 100000), strings.Repeat("[", 1000) + strings.Repeat("]", 999),
		"/* c */ {}", `{"a":1}}`,
	}
	for _, s := range invalid {
		if _, err := parseJSON([]byte(s)); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseJSONLevels(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{}`, 0},
		{`{"a":1}`, 1},
		{`{"a":{}}`, 1},
		{`{"a":{"b":[]}}`, 2},
		{`{"a":{"b":[1]}}`, 3},
		{`[[[["x"]]],1]`, 4},
	} {
		d, err := parseJSON([]byte(c.in))
		if err != nil || d.maxLevel != c.want {
			t.Errorf("%s: level %d err %v, want %d", c.in, d.maxLevel, err, c.want)
		}
	}
	// A million unclosed or balanced brackets cost no recursion.
	deep := strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)
	d, err := parseJSON([]byte(deep))
	if err != nil || d.maxLevel != 1<<20-1 {
		t.Errorf("deep: %d %v", d.maxLevel, err)
	}
}

func TestJSONAccessors(t *testing.T) {
	d, err := parseJSON([]byte(` { "b" : 1 , "a\u0062" : [ "x" , {"y": "\u00e9\ud83d\ude00"} ], "b": "second" , "e":{}, "n": null } `))
	if err != nil {
		t.Fatal(err)
	}
	m := d.root.members()
	var keys []string
	for _, x := range m {
		keys = append(keys, x.key)
	}
	if strings.Join(keys, ",") != "b,ab,b,e,n" {
		t.Fatalf("keys %q", keys)
	}
	if v, _ := m.get("b"); string(v) != "1" {
		t.Errorf("first duplicate wins, got %s", v)
	}
	arr, _ := m.get("ab")
	el := arr.elems()
	if len(el) != 2 || el[0].str() != "x" || el[1].kind() != jsonObject {
		t.Fatalf("elems %q", el)
	}
	if y, _ := el[1].members().get("y"); y.str() != "é😀" {
		t.Errorf("unicode %q", y.str())
	}
	if e, _ := m.get("e"); len(e.members()) != 0 || e.kind() != jsonObject {
		t.Errorf("empty object")
	}
	if n, _ := m.get("n"); n.kind() != jsonNull {
		t.Errorf("null kind")
	}
	if s := jsonNode(`"ab\u0000cd"`); s.str() != "ab\x00cd" || s.cstr() != "ab" {
		t.Errorf("NUL: %q %q", s.str(), s.cstr())
	}
}

func TestValueConversions(t *testing.T) {
	bits15 := math.Float64bits(1.5)
	for _, c := range []struct {
		in   string
		size uint64
		b    bool
	}{
		{`60`, 60, true},
		{`0`, 0, false},
		{`"60"`, 60, false},
		{`" 60"`, 60, false},
		{`"+60"`, 60, false},
		{`"-1"`, math.MaxUint64, false},
		{`"60s"`, 0, false},
		{`""`, 0, false},
		{`"true"`, 0, true},
		{`"T"`, 0, true},
		{`"yes"`, 0, false},
		{`true`, 0, true},
		{`false`, 0, false},
		{`null`, 0, false},
		{`{}`, 0, false},
		{`[60]`, 0, false},
		{`-5`, math.MaxUint64 - 4, true},
		{`1.5`, bits15, uint32(bits15) != 0},
		{`4294967296`, 4294967296, false}, // GetInt reads the low 32 bits
		{`3000000000`, 3000000000, true},
		{`18446744073709551615`, math.MaxUint64, true},
	} {
		n := jsonNode(c.in)
		if got := valueToSize(n); got != c.size {
			t.Errorf("valueToSize(%s) = %d, want %d", c.in, got, c.size)
		}
		if got := valueToBool(n); got != c.b {
			t.Errorf("valueToBool(%s) = %v, want %v", c.in, got, c.b)
		}
	}
}

func TestOptionValue(t *testing.T) {
	for _, c := range []struct {
		in, want string
		known    bool
	}{
		{`"text"`, "text", true},
		{`""`, "", true},
		{`"a\u0000b"`, "a", true},
		{`true`, "true", true},
		{`false`, "false", true},
		{`10`, "10", true},
		{`-10`, "-10", true},
		{`2147483648`, "2147483648", true},
		{`-2147483649`, "18446744071562067967", true},
		{`10.0`, "4621819117588971520", true}, // RapidJSON GetUint64 on a double
		{`{"a": [1, "x"], "b": {}}`, `{"a":[1,"x"],"b":{}}`, true},
		{`[ ]`, `[]`, true},
		{`null`, "", false},
	} {
		got, known := optionValue(jsonNode(c.in))
		if got != c.want || known != c.known {
			t.Errorf("optionValue(%s) = %q,%v want %q,%v", c.in, got, known, c.want, c.known)
		}
	}
}

func TestCompact(t *testing.T) {
	in := "{ \"a\" : [ 1 , -0 , 1E2 , 2.50 , 1e21, 1e-7 ] ,\n \"s\":\"\\/\\u0041\\u001f\\u00e9\", \"t\": true, \"n\": null, \"e\": { } }"
	d, err := parseJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":[1,0,100.0,2.5,1e21,1e-7],"s":"/A\u001Fé","t":true,"n":null,"e":{}}`
	if got := d.root.compact(false); got != want {
		t.Errorf("compact\n got %s\nwant %s", got, want)
	}
	want = `{"a":["1","-0","1E2","2.50","1e21","1e-7"],"s":"/A\u001Fé","t":"true","n":"null","e":""}`
	if got := d.root.compact(true); got != want {
		t.Errorf("stringify\n got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(d.root.compact(false))) {
		t.Error("compact output is not JSON")
	}
}

func TestRapidDtoa(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1.5, "1.5"}, {-2.5, "-2.5"}, {100, "100.0"},
		{1e20, "100000000000000000000.0"}, {1e21, "1e21"}, {1.234e30, "1.234e30"},
		{0.001, "0.001"}, {1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"},
		{123456.789, "123456.789"}, {math.MaxFloat64, "1.7976931348623157e308"},
	} {
		if got := rapidDtoa(c.f); got != c.want {
			t.Errorf("rapidDtoa(%g) = %s, want %s", c.f, got, c.want)
		}
	}
}
