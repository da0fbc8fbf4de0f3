package jsonw

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestAppendDoubleOracle compares with RapidJSON's own output, recorded by
// testdata/gen_doubles.cpp for edge cases, powers of ten, random bit
// patterns and short decimals.
func TestAppendDoubleOracle(t *testing.T) {
	f, err := os.Open("testdata/doubles.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("bad oracle line %q", sc.Text())
		}
		b, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		v := math.Float64frombits(b)
		if got := string(AppendDouble(nil, v)); got != fields[1] {
			t.Errorf("%s (%v): got %s want %s", fields[0], v, got, fields[1])
		}
		n++
	}
	if n < 5000 {
		t.Fatalf("only %d oracle lines", n)
	}
}

func TestAppendDoubleSpecial(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(AppendDouble([]byte("x:"), v)); got != "x:null" {
			t.Errorf("%v: %s", v, got)
		}
	}
}

func TestCachedPowers(t *testing.T) {
	for _, c := range []struct {
		i int
		f uint64
		e int
	}{
		{0, 0xfa8fd5a0081c0288, -1220},
		{43, 0xd1b71758e219652c, -77},
		{46, 0xad78ebc5ac620000, 3},
		{86, 0xaf87023b9bf0ee6b, 1066},
	} {
		if got := cachedPowers[c.i]; got.f != c.f || got.e != c.e {
			t.Errorf("cachedPowers[%d] = %#x e%d, want %#x e%d", c.i, got.f, got.e, c.f, c.e)
		}
	}
}

func TestAppendUintBool(t *testing.T) {
	if got := string(AppendBool(AppendUint(nil, math.MaxUint64), false)); got != "18446744073709551615false" {
		t.Fatal(got)
	}
}

// FuzzAppendDouble checks that every finite double round-trips and keeps a
// '.' or an exponent.
func FuzzAppendDouble(f *testing.F) {
	f.Add(uint64(0x3fb999999999999a))
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, b uint64) {
		v := math.Float64frombits(b)
		out := string(AppendDouble(nil, v))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		back, err := strconv.ParseFloat(out, 64)
		if err != nil || back != v {
			t.Fatalf("%v -> %s -> %v %v", v, out, back, err)
		}
		if !strings.ContainsAny(out, ".e") {
			t.Fatalf("%v -> %s has neither '.' nor exponent", v, out)
		}
	})
}

func BenchmarkAppendDouble(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; i < b.N; i++ {
		buf = AppendDouble(buf[:0], 12345.678+float64(i))
	}
}
