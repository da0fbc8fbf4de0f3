package sqlengine

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// regexFunctions are osquery's regex_split and regex_match
// (osquery/sql/sqlite_string.cpp).
//
// osquery uses C++ std::regex with the ECMAScript grammar; gosquery uses Go's
// regexp (RE2 syntax), which matches in linear time, so a hostile pattern
// cannot stall a query. Patterns common to both behave the same (leftmost
// match, Perl-style alternation, classes, \d \w \s \b, groups, lazy
// quantifiers). The differences:
//   - ECMAScript back-references (\1) and look-around ((?=...), (?!...),
//     (?<=...), (?<!...)) are not supported and give "Invalid regex".
//   - RE2 accepts syntax ECMAScript rejects, e.g. inline flags (?i),
//     (?s), named groups (?P<name>...), \pL classes, \A and \z.
//   - '.' excludes only '\n' (ECMAScript also excludes '\r', U+2028, U+2029).
//   - Input is matched as UTF-8: '.' consumes a whole character (an invalid
//     byte counts as one character), where std::regex works on bytes.
//   - RE2 limits counted repetition to {1000}; larger counts are invalid.
//   - regex_split with a pattern that can match the empty string may cut
//     differently around empty matches next to non-empty ones.
func regexFunctions(env *table.Env) []sqlFunction {
	maxSize := func() int64 { return regexMaxSize(env) }
	return []sqlFunction{
		{"regex_split", 3, pure, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			fnRegexSplit(ctx, maxSize(), args)
		}},
		{"regex_match", 3, pure, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			fnRegexMatch(ctx, maxSize(), args)
		}},
	}
}

// regexMaxSize reads --regex_max_size at call time, so a config option
// change applies to the next statement.
func regexMaxSize(env *table.Env) int64 {
	if env == nil || env.Flags == nil {
		return 256
	}
	if _, ok := env.Flags.Lookup("regex_max_size"); !ok {
		return 256
	}
	return env.Flags.Int("regex_max_size")
}

// fnRegexSplit is regex_split(s, pattern, n): the n-th piece of s cut at
// every match of pattern, or NULL.
func fnRegexSplit(ctx sqlite3.Context, maxSize int64, args []sqlite3.Value) {
	if anyNull(args) {
		ctx.ResultNull()
		return
	}
	pattern := args[1].Text()
	if pattern == "" {
		ctx.ResultError(sqlError("Invalid input to split function"))
		return
	}
	// osquery reports an oversized pattern here as a plain invalid regex.
	if int64(len(pattern)) > maxSize {
		ctx.ResultError(sqlError("Invalid regex"))
		return
	}
	re, err := compileRegex(pattern)
	if err != nil {
		ctx.ResultError(sqlError("Invalid regex"))
		return
	}
	n := argInt32(args[2])
	if n > maxRegexSplitIndex {
		ctx.ResultError(sqlError(fmt.Sprintf("regex_split: piece index above %d is not supported", maxRegexSplitIndex)))
		return
	}
	piece, ok := regexSplitPiece(re, args[0].Text(), n)
	if !ok {
		ctx.ResultNull()
		return
	}
	ctx.ResultText(piece)
}

// maxRegexSplitIndex bounds regex_split's piece index. Go's regexp can
// only list matches, not step through them with the text before each one
// as context, so piece n costs memory for n match positions; the bound
// keeps that under ~100 MB whatever the input.
const maxRegexSplitIndex = 1 << 20

// regexSplitPiece returns piece n of s the way std::sregex_token_iterator
// with submatch -1 yields them: the text before each match, then the text
// after the last match if it is not empty. Without any match the whole
// input (even "") is the only piece.
func regexSplitPiece(re *regexp.Regexp, s string, n int64) (string, bool) {
	if n < 0 {
		return "", false
	}
	// Only the first n+1 matches matter; asking for no more keeps a pattern
	// that matches everywhere from building a huge index list.
	limit := int(min(n+1, int64(len(s))+1))
	matches := re.FindAllStringIndex(s, limit)
	if int64(len(matches)) > n {
		prev := 0
		if n > 0 {
			prev = matches[n-1][1]
		}
		return s[prev:matches[n][0]], true
	}
	if len(matches) == 0 {
		return s, n == 0
	}
	last := matches[len(matches)-1][1]
	if int64(len(matches)) == n && last < len(s) {
		return s[last:], true
	}
	return "", false
}

// fnRegexMatch is regex_match(s, pattern, n): group n (0 is the whole
// match) of the first match of pattern in s, or NULL.
func fnRegexMatch(ctx sqlite3.Context, maxSize int64, args []sqlite3.Value) {
	if anyNull(args) {
		ctx.ResultNull()
		return
	}
	pattern := args[1].Text()
	if int64(len(pattern)) > maxSize {
		ctx.ResultError(sqlError(fmt.Sprintf("Invalid regex: too big, max size is %d bytes", maxSize)))
		return
	}
	re, err := compileRegex(pattern)
	if err != nil {
		ctx.ResultError(sqlError("Invalid regex"))
		return
	}
	n := argInt32(args[2])
	s := args[0].Text()
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil || n < 0 || n >= int64(len(loc)/2) {
		ctx.ResultNull()
		return
	}
	// A group that took no part in the match is "" (std::sub_match::str()).
	if loc[2*n] < 0 {
		ctx.ResultText("")
		return
	}
	ctx.ResultText(s[loc[2*n]:loc[2*n+1]])
}

// regexCacheSize bounds the compiled-pattern cache. Queries reuse a handful
// of patterns; a query generating patterns per row only cycles the cache.
const regexCacheSize = 128

type regexCacheEntry struct {
	re  *regexp.Regexp
	err error
}

// regexCache holds compiled patterns (and compile errors) by pattern text,
// shared by all connections. Eviction is first-in first-out.
var regexCache = struct {
	sync.Mutex
	m     map[string]regexCacheEntry
	order []string
	next  int
}{m: map[string]regexCacheEntry{}}

func compileRegex(pattern string) (*regexp.Regexp, error) {
	regexCache.Lock()
	e, ok := regexCache.m[pattern]
	regexCache.Unlock()
	if ok {
		return e.re, e.err
	}
	re, err := regexp.Compile(pattern)
	e = regexCacheEntry{re, err}
	regexCache.Lock()
	defer regexCache.Unlock()
	if _, dup := regexCache.m[pattern]; !dup {
		if len(regexCache.order) < regexCacheSize {
			regexCache.order = append(regexCache.order, pattern)
		} else {
			delete(regexCache.m, regexCache.order[regexCache.next])
			regexCache.order[regexCache.next] = pattern
			regexCache.next = (regexCache.next + 1) % regexCacheSize
		}
		regexCache.m[pattern] = e
	}
	return re, err
}
