package sqlengine

import (
	"math"
	"testing"
)

func TestMathFunctions(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// Registered here, with osquery's semantics.
		{"log(1)", 0.0},
		{"log(exp(2))", 2.0},
		{"log(100)", math.Log(100)},
		{"log(0)", fnErr("Numerical result out of range")},
		{"log(-1)", fnErr("Numerical argument out of domain")},
		{"log(NULL)", fnNull},
		{"log('abc')", fnErr("Numerical result out of range")},
		{"log('10')", math.Log(10)},
		{"log(2, 8)", 3.0}, // SQLite's two-argument form stays
		{"cot(1)", 1 / math.Tan(1)},
		{"cot(0)", math.Inf(1)},
		{"cot(NULL)", fnNull},
		{"cot(9e999)", fnErr("Numerical argument out of domain")},
		{"ceil(1.2)", 2},
		{"ceil(-1.2)", -1},
		{"ceil(5)", 5},
		{"ceil(9223372036854775807)", int64(math.MaxInt64)},
		{"ceil('2.5')", 3},
		{"ceil('abc')", 0},
		{"ceil(NULL)", fnNull},
		{"ceil(9e999)", int64(math.MinInt64)},
		{"ceil(1e300)", int64(math.MinInt64)},
		{"floor(1.7)", 1},
		{"floor(-1.2)", -2},
		{"floor(-9223372036854775808.0)", int64(math.MinInt64)},
		{"floor(x'31')", 1},
		{"typeof(ceil(1.5)) || typeof(floor(1.5))", "integerinteger"},

		// SQLite built-ins, which match osquery for numeric input.
		{"sqrt(16)", 4.0},
		{"sqrt(2)", math.Sqrt(2)},
		{"acos(1)", 0.0},
		{"asin(0)", 0.0},
		{"atan(1)", math.Pi / 4},
		{"cos(0)", 1.0},
		{"sin(0)", 0.0},
		{"tan(0)", 0.0},
		{"exp(0)", 1.0},
		{"log10(1000)", 3.0},
		{"power(2, 10)", 1024.0},
		{"degrees(pi())", 180.0},
		{"radians(180)", math.Pi},
		{"pi()", math.Pi},
		{"sqrt(NULL)", fnNull},
		{"power(NULL, 2)", fnNull},
	})
}
