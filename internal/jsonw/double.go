package jsonw

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// AppendUint appends an unsigned integer.
func AppendUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

// AppendBool appends true or false.
func AppendBool(dst []byte, v bool) []byte { return strconv.AppendBool(dst, v) }

// AppendDouble appends a finite double exactly as RapidJSON's Writer::Double
// does (osquery's numbers with --logger_numerics): the Grisu2 digits, which
// are the shortest round-tripping ones in nearly every case but not all,
// laid out by RapidJSON's Prettify: always a '.' or an exponent
// ("1.0", "0.001234", "1e21", "1.5e-7", "-0.0"). strconv's shortest form
// differs in those rare cases and in the layout, hence this port.
//
// RapidJSON refuses NaN and infinities (osquery then writes a truncated
// line); AppendDouble writes null for them so the output stays JSON, and
// callers that care should check math.IsInf/IsNaN first.
func AppendDouble(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	if v == 0 {
		if math.Signbit(v) {
			dst = append(dst, '-')
		}
		return append(dst, "0.0"...)
	}
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [24]byte
	digits, k := grisu2(v, buf[:0])
	return prettify(dst, digits, k)
}

// diyFp is a do-it-yourself floating point number f × 2^e, as in Florian
// Loitsch's Grisu paper and RapidJSON's port of it.
type diyFp struct {
	f uint64
	e int
}

const (
	dpSignificandSize = 52
	dpExponentBias    = 0x3FF + dpSignificandSize
	dpMinExponent     = -dpExponentBias
	dpExponentMask    = 0x7FF0000000000000
	dpSignificandMask = 0x000FFFFFFFFFFFFF
	dpHiddenBit       = 0x0010000000000000
)

func diyFromFloat(d float64) diyFp {
	u := math.Float64bits(d)
	biased := int((u & dpExponentMask) >> dpSignificandSize)
	sig := u & dpSignificandMask
	if biased != 0 {
		return diyFp{sig + dpHiddenBit, biased - dpExponentBias}
	}
	return diyFp{sig, dpMinExponent + 1}
}

// mul rounds the 128-bit product to its upper 64 bits.
func (a diyFp) mul(b diyFp) diyFp {
	h, l := bits.Mul64(a.f, b.f)
	if l&(1<<63) != 0 {
		h++
	}
	return diyFp{h, a.e + b.e + 64}
}

func (a diyFp) normalize() diyFp {
	s := bits.LeadingZeros64(a.f)
	return diyFp{a.f << s, a.e - s}
}

func (a diyFp) normalizeBoundary() diyFp {
	for a.f&(dpHiddenBit<<1) == 0 {
		a.f <<= 1
		a.e--
	}
	const shift = 64 - dpSignificandSize - 2
	return diyFp{a.f << shift, a.e - shift}
}

// boundaries returns the normalized neighbours halfway to the previous and
// next doubles, sharing plus's exponent.
func (a diyFp) boundaries() (minus, plus diyFp) {
	plus = diyFp{(a.f << 1) + 1, a.e - 1}.normalizeBoundary()
	if a.f == dpHiddenBit {
		minus = diyFp{(a.f << 2) - 1, a.e - 2}
	} else {
		minus = diyFp{(a.f << 1) - 1, a.e - 1}
	}
	minus.f <<= uint(minus.e - plus.e)
	minus.e = plus.e
	return minus, plus
}

// cachedPowers holds 10^k for k = -348, -340, ..., 340 as normalized diyFps
// rounded to nearest: the table Grisu2 uses, computed here rather than
// transcribed (TestCachedPowers checks entries against known values).
var cachedPowers = func() (t [87]diyFp) {
	ten, one := big.NewInt(10), big.NewInt(1)
	for i := range t {
		k := -348 + 8*i
		if k >= 0 {
			n := new(big.Int).Exp(ten, big.NewInt(int64(k)), nil)
			if l := n.BitLen(); l <= 64 {
				t[i] = diyFp{new(big.Int).Lsh(n, uint(64-l)).Uint64(), -(64 - l)}
				continue
			}
			sh := uint(n.BitLen() - 64)
			q := new(big.Int).Rsh(n, sh)
			if n.Bit(int(sh-1)) == 1 {
				q.Add(q, one)
			}
			if q.BitLen() > 64 {
				q.Rsh(q, 1)
				sh++
			}
			t[i] = diyFp{q.Uint64(), int(sh)}
			continue
		}
		d := new(big.Int).Exp(ten, big.NewInt(int64(-k)), nil)
		s := d.BitLen() + 63
		q, r := new(big.Int).QuoRem(new(big.Int).Lsh(one, uint(s)), d, new(big.Int))
		if new(big.Int).Lsh(r, 1).Cmp(d) >= 0 {
			q.Add(q, one)
		}
		if q.BitLen() > 64 {
			q.Rsh(q, 1)
			s--
		}
		t[i] = diyFp{q.Uint64(), -s}
	}
	return t
}()

// cachedPower picks the power of ten that brings a number with binary
// exponent e into Grisu's target range, and its decimal exponent K.
func cachedPower(e int) (diyFp, int) {
	dk := float64(-61-e)*0.30102999566398114 + 347
	k := int(dk)
	if dk-float64(k) > 0 {
		k++
	}
	index := (k >> 3) + 1
	return cachedPowers[index], -(-348 + index<<3)
}

var pow10u32 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func countDecimalDigit32(n uint32) int {
	for i := 1; i < 9; i++ {
		if n < pow10u32[i] {
			return i
		}
	}
	return 9
}

func grisuRound(buf []byte, delta, rest, tenKappa, wpw uint64) {
	for rest < wpw && delta-rest >= tenKappa &&
		(rest+tenKappa < wpw || wpw-rest > rest+tenKappa-wpw) {
		buf[len(buf)-1]--
		rest += tenKappa
	}
}

func digitGen(w, mp diyFp, delta uint64, buf []byte, k int) ([]byte, int) {
	oneE := uint(-mp.e)
	oneF := uint64(1) << oneE
	wpw := mp.f - w.f
	p1 := uint32(mp.f >> oneE)
	p2 := mp.f & (oneF - 1)
	kappa := countDecimalDigit32(p1)
	for kappa > 0 {
		pow := pow10u32[kappa-1]
		d := p1 / pow
		p1 %= pow
		if d != 0 || len(buf) != 0 {
			buf = append(buf, '0'+byte(d))
		}
		kappa--
		tmp := uint64(p1)<<oneE + p2
		if tmp <= delta {
			grisuRound(buf, delta, tmp, uint64(pow10u32[kappa])<<oneE, wpw)
			return buf, k + kappa
		}
	}
	for {
		p2 *= 10
		delta *= 10
		d := byte(p2 >> oneE)
		if d != 0 || len(buf) != 0 {
			buf = append(buf, '0'+d)
		}
		p2 &= oneF - 1
		kappa--
		if p2 < delta {
			var scale uint64
			if -kappa < 9 {
				scale = uint64(pow10u32[-kappa])
			}
			grisuRound(buf, delta, p2, oneF, wpw*scale)
			return buf, k + kappa
		}
	}
}

// grisu2 returns v's decimal digits and exponent: v ≈ digits × 10^k.
func grisu2(v float64, buf []byte) ([]byte, int) {
	d := diyFromFloat(v)
	wm, wp := d.boundaries()
	c, k := cachedPower(wp.e)
	w := d.normalize().mul(c)
	wp = wp.mul(c)
	wm = wm.mul(c)
	wm.f++
	wp.f--
	return digitGen(w, wp, wp.f-wm.f, buf, k)
}

// prettify lays the digits out as RapidJSON does (maxDecimalPlaces 324,
// its default, so its truncation branches never apply to doubles).
func prettify(dst, digits []byte, k int) []byte {
	length := len(digits)
	kk := length + k // 10^(kk-1) <= v < 10^kk
	switch {
	case k >= 0 && kk <= 21:
		dst = append(dst, digits...)
		for i := length; i < kk; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case kk > 0 && kk <= 21:
		dst = append(dst, digits[:kk]...)
		dst = append(dst, '.')
		return append(dst, digits[kk:]...)
	case kk > -6 && kk <= 0:
		dst = append(dst, '0', '.')
		for i := kk; i < 0; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case kk < -324:
		return append(dst, "0.0"...)
	case length == 1:
		dst = append(dst, digits[0], 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	default:
		dst = append(dst, digits[0], '.')
		dst = append(dst, digits[1:]...)
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	}
}
