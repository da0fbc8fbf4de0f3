package sqlengine

import (
	"strings"
	"unicode/utf8"

	"github.com/ncruces/go-sqlite3"
)

// stringFunctions are osquery's split, concat and concat_ws
// (osquery/sql/sqlite_string.cpp). regex_split and regex_match live in
// functions_regex.go, inet_aton in functions_network.go.
func stringFunctions() []sqlFunction {
	return []sqlFunction{
		{"split", 3, pure, fnSplit},
		// Registered variadic so that osquery's semantics replace SQLite's
		// built-in concat/concat_ws (3.44+) for every argument count.
		{"concat", -1, pure, fnConcat},
		{"concat_ws", -1, pure, fnConcatWS},
	}
}

// fnSplit is split(s, tokens, n): the n-th (0-based) piece of s split on
// any character of tokens, or NULL.
func fnSplit(ctx sqlite3.Context, args ...sqlite3.Value) {
	if anyNull(args) {
		ctx.ResultNull()
		return
	}
	tokens := args[1].Text()
	if tokens == "" {
		ctx.ResultError(sqlError("Invalid input to split function"))
		return
	}
	piece, ok := splitPiece(args[0].Text(), tokens, argInt32(args[2]))
	if !ok {
		ctx.ResultNull()
		return
	}
	ctx.ResultText(piece)
}

// splitPiece returns the n-th piece of s split as osquery::split does:
// split on any character of tokens, drop empty pieces, then trim
// whitespace from each (so a piece of only spaces survives as "").
//
// osquery splits on any byte of tokens; here a multi-byte UTF-8 character
// in tokens is one separator, so splitting on "é" cannot cut "à" in half.
// For ASCII tokens the two are the same.
func splitPiece(s, tokens string, n int64) (string, bool) {
	if n < 0 {
		return "", false
	}
	ascii := true
	var set [utf8.RuneSelf]bool
	for i := 0; i < len(tokens); i++ {
		if tokens[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
		set[tokens[i]] = true
	}
	var isSep func(s string, i int) (bool, int)
	if !ascii {
		isSep = runeSeparator(tokens)
	}
	var count int64
	start := 0
	for i := 0; i <= len(s); {
		width := 1
		atSep := i == len(s)
		if !atSep {
			if ascii {
				c := s[i]
				atSep = c < utf8.RuneSelf && set[c]
			} else {
				atSep, width = isSep(s, i)
			}
		}
		if atSep {
			if i > start {
				if count == n {
					return trimCSpace(s[start:i]), true
				}
				count++
			}
			start = i + width
		}
		i += width
	}
	return "", false
}

// runeSeparator builds splitPiece's separator test for tokens holding
// non-ASCII characters. It reports whether s[i:] starts with a separator
// and how many bytes to advance.
func runeSeparator(tokens string) func(s string, i int) (bool, int) {
	runes := map[rune]bool{}
	bytes := map[byte]bool{} // invalid UTF-8 bytes in tokens match themselves
	for i := 0; i < len(tokens); {
		r, w := utf8.DecodeRuneInString(tokens[i:])
		if r == utf8.RuneError && w == 1 {
			bytes[tokens[i]] = true
		} else {
			runes[r] = true
		}
		i += w
	}
	return func(s string, i int) (bool, int) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			return bytes[s[i]], 1
		}
		return runes[r], w
	}
}

// trimCSpace is boost::algorithm::trim in the "C" locale.
func trimCSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isCSpace(s[i]) {
		i++
	}
	for j > i && isCSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// fnConcat is concat(a, ...): the text of every non-NULL argument, joined.
// With no arguments the result is NULL, as in osquery.
func fnConcat(ctx sqlite3.Context, args ...sqlite3.Value) {
	concatValues(ctx, "", args)
}

// fnConcatWS is concat_ws(sep, a, ...). A NULL separator counts as "".
func fnConcatWS(ctx sqlite3.Context, args ...sqlite3.Value) {
	if len(args) == 0 {
		ctx.ResultError(sqlError("Missing separator to concat_ws"))
		return
	}
	sep := ""
	if args[0].Type() != sqlite3.NULL {
		sep = args[0].Text()
	}
	concatValues(ctx, sep, args[1:])
}

// concatValues joins the non-NULL values as osquery's concatFunc does:
// the separator follows every non-NULL value that is not the last
// argument, so a trailing NULL leaves a trailing separator
// (concat_ws('-', 'a', NULL) is "a-"). That quirk is kept on purpose:
// queries written against osquery see the same strings.
func concatValues(ctx sqlite3.Context, sep string, args []sqlite3.Value) {
	if len(args) == 0 {
		ctx.ResultNull()
		return
	}
	limit := lengthLimit(ctx)
	var b strings.Builder
	for i, a := range args {
		if a.Type() == sqlite3.NULL {
			continue
		}
		v := a.RawText()
		add := len(v)
		if i+1 < len(args) {
			add += len(sep)
		}
		if b.Len()+add > limit {
			ctx.ResultError(sqlite3.TOOBIG)
			return
		}
		b.Write(v)
		if i+1 < len(args) {
			b.WriteString(sep)
		}
	}
	ctx.ResultText(b.String())
}
