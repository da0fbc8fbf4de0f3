package sqlengine

import (
	"strings"
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// Version comparison (osquery/sql/sqlite_version.cpp): version_compare(a,
// b[, flavor]) and the collations version, version_arch, version_dpkg and
// version_rhel.
//
// The default, ARCH and RHEL flavors are osquery's own segment-wise
// algorithm, reproduced exactly (including its raw, unclamped collation
// results). DPKG deliberately departs from osquery: osquery's DPKG options
// get cases such as "1.0~rc1" < "1.0" wrong, so DPKG here is dpkg's own
// algorithm (lib/dpkg/version.c: epoch, then verrevcmp on upstream version
// and revision, '~' sorting before everything, even the end of the string).
// It agrees with osquery on every DPKG case of osquery's tests.

// versionFlavor selects a comparison algorithm.
type versionFlavor int

const (
	flavorDefault versionFlavor = iota
	flavorArch
	flavorDpkg
	flavorRHEL
)

// versionOptions are osquery's four switches of versionCompare.
type versionOptions struct {
	// epoch: a version with an epoch (a ':') sorts after one without.
	epoch bool
	// delimPrecedence: delimiters order among themselves ~ < - < ^ < . < :.
	delimPrecedence bool
	// compRemaining: what follows the common length decides the order
	// (~ lower, - equal, ^ higher) instead of only the length.
	compRemaining bool
	// remainderPrecedence: with compRemaining, a pending character
	// difference is ignored when the last compared character is a digit.
	remainderPrecedence bool
}

var (
	archOptions = versionOptions{epoch: true, compRemaining: true, remainderPrecedence: true}
	rhelOptions = versionOptions{epoch: true, delimPrecedence: true, compRemaining: true}
)

func versionFunctions() []sqlFunction {
	return []sqlFunction{{"version_compare", -1, pure, fnVersionCompare}}
}

type collation struct {
	name string
	fn   sqlite3.CollatingFunction
}

// versionCollations compare the raw column bytes (which may hold NULs,
// unlike the C strings version_compare sees).
func versionCollations() []collation {
	return []collation{
		{"version", func(a, b []byte) int { return compareVersions(bytesView(a), bytesView(b), flavorDefault) }},
		{"version_arch", func(a, b []byte) int { return compareVersions(bytesView(a), bytesView(b), flavorArch) }},
		{"version_dpkg", func(a, b []byte) int { return compareVersions(bytesView(a), bytesView(b), flavorDpkg) }},
		{"version_rhel", func(a, b []byte) int { return compareVersions(bytesView(a), bytesView(b), flavorRHEL) }},
	}
}

// bytesView lets a collation read SQLite's key bytes as a string without
// copying; the strings never outlive the call.
func bytesView(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// fnVersionCompare is version_compare(a, b[, flavor]): -1, 0 or 1. Both
// versions must be TEXT (NULL is an error, as in osquery); arguments after
// the third are ignored, as in osquery.
func fnVersionCompare(ctx sqlite3.Context, args ...sqlite3.Value) {
	if len(args) < 2 || args[0].Type() != sqlite3.TEXT || args[1].Type() != sqlite3.TEXT {
		ctx.ResultError(sqlError("Must provide two version strings to compare."))
		return
	}
	flavor := flavorDefault
	if len(args) > 2 {
		if args[2].Type() != sqlite3.TEXT {
			ctx.ResultError(sqlError("The optional third parameter is not a string."))
			return
		}
		switch f := args[2].Text(); {
		case strings.EqualFold(f, "ARCH"):
			flavor = flavorArch
		case strings.EqualFold(f, "DPKG"):
			flavor = flavorDpkg
		case strings.EqualFold(f, "RHEL"):
			flavor = flavorRHEL
		default:
			ctx.ResultError(sqlError("The optional third parameter does not match one of: (ARCH, DPKG, RHEL)."))
			return
		}
	}
	rc := compareVersions(cString(args[0].Text()), cString(args[1].Text()), flavor)
	ctx.ResultInt64(int64(max(-1, min(1, rc))))
}

// compareVersions returns <0, 0 or >0 as l sorts before, with or after r.
func compareVersions(l, r string, flavor versionFlavor) int {
	switch flavor {
	case flavorArch:
		return osqueryVersionCompare(l, r, archOptions)
	case flavorDpkg:
		return dpkgVersionCompare(l, r)
	case flavorRHEL:
		return osqueryVersionCompare(l, r, rhelOptions)
	}
	return osqueryVersionCompare(l, r, versionOptions{})
}

// osqueryVersionCompare is osquery's versionCompare: versions are walked
// byte by byte in segments separated by the delimiters ~ - ^ . :; within a
// segment the first differing byte decides, but only once both versions
// reach a delimiter, so a longer segment sorts higher ("1.10" > "1.9").
// Bytes compare as C chars (signed), as osquery does on x86-64.
func osqueryVersionCompare(l, r string, o versionOptions) int {
	switch {
	case len(l) == 0 && len(r) == 0:
		return 0
	case len(l) == 0:
		return -1
	case len(r) == 0:
		return 1
	}
	if l == r {
		return 0
	}
	if o.epoch {
		if d := compareEpochPosition(l, r); d != 0 {
			return d
		}
	}
	firstDiff := 0
	n := min(len(l), len(r))
	for i := 0; i < n; i++ {
		ld, rd := versionDelimiter(l[i]), versionDelimiter(r[i])
		if ld == 0 && rd == 0 {
			if firstDiff == 0 {
				firstDiff = int(int8(l[i])) - int(int8(r[i]))
			}
			continue
		} else if ld == 0 {
			return 1
		} else if rd == 0 {
			return -1
		}
		if firstDiff != 0 {
			return firstDiff
		}
		if o.delimPrecedence {
			if d := ld - rd; d != 0 {
				return d
			}
		}
	}
	if len(l) == len(r) {
		return firstDiff
	}
	return compareVersionRemainder(l, r, n, firstDiff, o)
}

// compareEpochPosition is osquery's compareEpoch: with an epoch on both
// sides, the difference of the ':' positions (a longer epoch is larger);
// otherwise the side with an epoch is larger.
func compareEpochPosition(l, r string) int {
	li, ri := strings.IndexByte(l, ':'), strings.IndexByte(r, ':')
	switch {
	case li >= 0 && ri >= 0:
		return li - ri
	case li >= 0:
		return 1
	case ri >= 0:
		return -1
	}
	return 0
}

// versionDelimiter is osquery's delimiterPrecedence: 0 for a non-delimiter.
func versionDelimiter(c byte) int {
	switch c {
	case '~':
		return 1
	case '-':
		return 2
	case '^':
		return 3
	case '.':
		return 4
	case ':':
		return 5
	}
	return 0
}

// compareVersionRemainder is osquery's compareRemainder: one version is a
// prefix (by segments) of the other, pos is the common length and diff
// the pending byte difference of the last segment.
func compareVersionRemainder(l, r string, pos, diff int, o versionOptions) int {
	if len(l) == pos {
		if o.compRemaining {
			switch r[pos] {
			case '~':
				return 1
			case '-':
				return 0
			case '^':
				return -1
			default:
				if diff != 0 && (!o.remainderPrecedence || !isDigit(l[pos-1])) {
					return diff
				}
			}
		} else if diff != 0 && versionDelimiter(r[pos]) > 0 {
			return diff
		}
	}
	if len(r) == pos {
		if o.compRemaining {
			switch l[pos] {
			case '~':
				return -1
			case '-':
				return 0
			case '^':
				return 1
			default:
				if diff != 0 && (!o.remainderPrecedence || !isDigit(r[pos-1])) {
					return diff
				}
			}
		} else if diff != 0 && versionDelimiter(l[pos]) > 0 {
			return diff
		}
	}
	return len(l) - len(r)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// dpkgVersion is a version split as dpkg's parseversion does.
type dpkgVersion struct {
	epoch    string // decimal digits without leading zeros; "" is epoch 0
	upstream string
	revision string
}

// parseDpkgVersion splits [epoch:]upstream[-revision]. dpkg rejects
// malformed versions; a collation must order every string, so here a
// malformed epoch (not all digits) makes the whole string the upstream
// part, and surrounding whitespace is ignored as dpkg ignores it.
func parseDpkgVersion(s string) dpkgVersion {
	s = strings.TrimFunc(cString(s), func(r rune) bool { return r < 0x80 && isCSpace(byte(r)) })
	var v dpkgVersion
	if colon := strings.IndexByte(s, ':'); colon >= 0 {
		epoch := s[:colon]
		allDigits := epoch != ""
		for i := 0; i < len(epoch); i++ {
			if !isDigit(epoch[i]) {
				allDigits = false
				break
			}
		}
		if allDigits {
			v.epoch = strings.TrimLeft(epoch, "0")
			s = s[colon+1:]
		}
	}
	if hyphen := strings.LastIndexByte(s, '-'); hyphen >= 0 {
		v.revision = s[hyphen+1:]
		s = s[:hyphen]
	}
	v.upstream = s
	return v
}

// dpkgVersionCompare is dpkg's dpkg_version_compare. Epochs compare as
// arbitrary-length numbers, so huge epochs cannot overflow.
func dpkgVersionCompare(l, r string) int {
	a, b := parseDpkgVersion(l), parseDpkgVersion(r)
	if c := compareDigitRuns(a.epoch, b.epoch); c != 0 {
		return c
	}
	if c := verrevcmp(a.upstream, b.upstream); c != 0 {
		return c
	}
	return verrevcmp(a.revision, b.revision)
}

// compareDigitRuns compares two digit strings without leading zeros.
func compareDigitRuns(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// dpkgOrder is dpkg's order(): digits 0, letters themselves, '~' below
// everything (even the end of the string, 0), other bytes after letters.
func dpkgOrder(c byte, ok bool) int {
	switch {
	case !ok:
		return 0
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp is dpkg's verrevcmp: alternating non-digit runs compared with
// dpkgOrder and digit runs compared numerically (any length). Input is cut
// at NUL by the caller, so every step advances.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	at := func(s string, k int) (byte, bool) {
		if k < len(s) {
			return s[k], true
		}
		return 0, false
	}
	for i < len(a) || j < len(b) {
		for {
			ac, aok := at(a, i)
			bc, bok := at(b, j)
			if !(aok && !isDigit(ac)) && !(bok && !isDigit(bc)) {
				break
			}
			ao, bo := dpkgOrder(ac, aok), dpkgOrder(bc, bok)
			if ao != bo {
				return ao - bo
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return firstDiff
		}
	}
	return 0
}
