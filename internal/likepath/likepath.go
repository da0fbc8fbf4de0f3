// Package likepath matches path components against osquery's LIKE path
// patterns, where only '%' is special (the file table and carves share
// these rules).
package likepath

import "strings"

// MatchComponent matches one path component against a LIKE component in
// which only '%' is special. A leading '.' must be matched literally.
func MatchComponent(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	// Iterative wildcard match: remember the last '%' and where the name
	// stood, and backtrack there on a mismatch. Linear in practice.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '%':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '%' {
		p++
	}
	return p == len(pattern)
}
