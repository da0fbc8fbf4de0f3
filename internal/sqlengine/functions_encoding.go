package sqlengine

import (
	"encoding/base64"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// encodingFunctions are osquery's base64 helpers
// (osquery/sql/sqlite_encoding.cpp, osquery/utils/base64.cpp).
func encodingFunctions() []sqlFunction {
	return []sqlFunction{
		{"to_base64", 1, pure, fnToBase64},
		{"from_base64", 1, pure, fnFromBase64},
		{"conditional_to_base64", 1, pure, fnConditionalToBase64},
	}
}

// fnToBase64 is to_base64(s): standard padded base64 of the value's bytes.
func fnToBase64(ctx sqlite3.Context, args ...sqlite3.Value) {
	if args[0].Type() == sqlite3.NULL {
		ctx.ResultNull()
		return
	}
	ctx.ResultText(base64.StdEncoding.EncodeToString(args[0].RawText()))
}

// fnFromBase64 is from_base64(s): the decoded bytes as TEXT, or "" when s
// is not base64.
func fnFromBase64(ctx sqlite3.Context, args ...sqlite3.Value) {
	if args[0].Type() == sqlite3.NULL {
		ctx.ResultNull()
		return
	}
	ctx.ResultText(decodeBase64Lenient(args[0].Text()))
}

// decodeBase64Lenient decodes as osquery's base64::decode: line breaks are
// dropped, trailing '=' padding is optional, anything else outside the
// alphabet makes the whole input invalid ("").
func decodeBase64Lenient(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	s = strings.TrimRight(s, "=")
	// Go's decoder skips a lone '\r'; osquery's rejects it.
	if s == "" || strings.IndexByte(s, '\r') >= 0 {
		return ""
	}
	out, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(out)
}

// fnConditionalToBase64 is conditional_to_base64(s): s unchanged when every
// byte is printable ASCII (0x20-0x7E), its base64 otherwise.
func fnConditionalToBase64(ctx sqlite3.Context, args ...sqlite3.Value) {
	if args[0].Type() == sqlite3.NULL {
		ctx.ResultNull()
		return
	}
	v := args[0].RawText()
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			ctx.ResultText(base64.StdEncoding.EncodeToString(v))
			return
		}
	}
	ctx.ResultText(string(v))
}
