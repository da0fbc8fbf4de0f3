package sqlengine

import (
	"encoding/base64"
	"testing"
)

func TestBase64Functions(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases.
		{"to_base64('test')", "dGVzdA=="},
		{"from_base64('dGVzdA==')", "test"},
		{"conditional_to_base64('test')", "test"},
		{"conditional_to_base64('悪因悪果')", "5oKq5Zug5oKq5p6c"},

		{"to_base64('')", ""},
		{"to_base64('a')", "YQ=="},
		{"to_base64('ab')", "YWI="},
		{"to_base64(x'00ff')", "AP8="},
		{"to_base64(42)", "NDI="},
		{"to_base64(NULL)", fnNull},
		// Padding is optional and line breaks are ignored.
		{"from_base64('dGVzdA')", "test"},
		{"from_base64('dGVz' || char(13, 10) || 'dA==')", "test"},
		{"from_base64('dGVz' || char(10) || 'dA==')", "test"},
		{"hex(from_base64('AP8='))", "00FF"},
		{"from_base64('')", ""},
		{"from_base64('====')", ""},
		{"from_base64(NULL)", fnNull},
		// Invalid input decodes to "".
		{"from_base64('dGVzdA==!')", ""},
		{"from_base64('dG Vz')", ""},
		{"from_base64('dGVz' || char(13) || 'dA')", ""},
		{"from_base64('d=GVz')", ""},
		{"from_base64('a')", ""},
		{"from_base64(cast(x'ff' as text))", ""},
		// Printable ASCII passes through, anything else is encoded.
		{"conditional_to_base64('a b~')", "a b~"},
		{"conditional_to_base64('tab' || char(9))", "dGFiCQ=="},
		{"conditional_to_base64(char(127))", "fw=="},
		{"conditional_to_base64('')", ""},
		{"conditional_to_base64(NULL)", fnNull},
	})
}

func TestBase64RoundTrip(t *testing.T) {
	db, _ := fnTestDB(t)
	// Every byte value survives to_base64 then from_base64.
	v := fnOne(t, db, `with recursive b(i, s) as (select 0, x'' union all select i+1, s || unhex(printf('%02x', i)) from b where i < 256)
		select from_base64(to_base64(s)) = cast(s as text) from b where i = 256`)
	if v.Int != 1 {
		t.Fatalf("round trip: %s", fnShowValue(v))
	}
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	v = fnOne(t, db, "select to_base64(x'"+hexUpper(all)+"')")
	if v.Str != base64.StdEncoding.EncodeToString(all) {
		t.Fatalf("to_base64 of all bytes: %q", v.Str)
	}
}

func hexUpper(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
