package sqlengine

import (
	"math"

	"github.com/ncruces/go-sqlite3"
)

// osquery registers its own math functions (osquery/sql/sqlite_math.cpp):
// sqrt acos asin atan cos sin tan cot exp log log10 power ceil floor
// degrees radians pi. The embedded SQLite (3.54) already has all but cot
// as built-ins, computed by a C libm, so only these are registered here:
//   - cot: missing from SQLite.
//   - log(x): SQLite's one-argument log is base 10; osquery's is natural.
//     (The two-argument SQLite log(b, x) stays available.)
//   - ceil, floor: osquery returns an INTEGER; SQLite keeps REAL for REAL
//     input.
//
// The built-ins differ from osquery only at the edges: a domain or range
// error (sqrt(-1), acos(2), log10(0)) gives NULL where osquery fails the
// query with strerror(errno), and non-numeric text gives NULL where osquery
// computes f(0.0). The functions registered here follow osquery.

func mathFunctions() []sqlFunction {
	return []sqlFunction{
		{"cot", 1, pure, doubleFunc(mathCot)},
		{"log", 1, pure, doubleFunc(mathLog)},
		{"ceil", 1, pure, roundingFunc(math.Ceil)},
		{"floor", 1, pure, roundingFunc(math.Floor)},
	}
}

// Messages of glibc's strerror for the errno values libm sets.
const (
	errDomain = sqlError("Numerical argument out of domain") // EDOM
	errRange  = sqlError("Numerical result out of range")    // ERANGE
)

// doubleFunc is osquery's callDoubleFunc: NULL stays NULL, anything else is
// read as a double (text that is not a number reads as 0), and an errno
// set by libm becomes the error.
func doubleFunc(f func(float64) (float64, error)) sqlite3.ScalarFunction {
	return func(ctx sqlite3.Context, args ...sqlite3.Value) {
		if args[0].Type() == sqlite3.NULL {
			ctx.ResultNull()
			return
		}
		v, err := f(args[0].Float())
		if err != nil {
			ctx.ResultError(err)
			return
		}
		ctx.ResultFloat(v)
	}
}

// mathLog is log(3): the natural logarithm, EDOM below zero, ERANGE
// (pole) at zero.
func mathLog(x float64) (float64, error) {
	switch {
	case x < 0:
		return 0, errDomain
	case x == 0:
		return 0, errRange
	}
	return math.Log(x), nil
}

// mathCot is osquery's cot: 1/tan(x). tan(±Inf) sets EDOM; tan(0) gives a
// division by zero, which is +Inf, not an error.
func mathCot(x float64) (float64, error) {
	if math.IsInf(x, 0) {
		return 0, errDomain
	}
	return 1.0 / math.Tan(x), nil
}

// roundingFunc is osquery's callCastedDoubleFunc for ceil and floor: an
// INTEGER is returned as is, NULL stays NULL, anything else is read as a
// double, rounded and cast to a 64-bit integer. Out-of-range values
// (±Inf, |x| ≥ 2^63) give the x86-64 conversion result, -2^63.
func roundingFunc(f func(float64) float64) sqlite3.ScalarFunction {
	return func(ctx sqlite3.Context, args ...sqlite3.Value) {
		switch args[0].Type() {
		case sqlite3.NULL:
			ctx.ResultNull()
		case sqlite3.INTEGER:
			ctx.ResultInt64(args[0].Int64())
		default:
			v := f(args[0].Float())
			if !(v >= -(1<<63) && v < 1<<63) {
				ctx.ResultInt64(math.MinInt64)
				return
			}
			ctx.ResultInt64(int64(v))
		}
	}
}
