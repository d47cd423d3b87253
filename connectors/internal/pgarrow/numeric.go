package pgarrow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
)

// Numeric sign words of PostgreSQL's binary numeric format.
const (
	numPos  = 0x0000
	numNeg  = 0x4000
	numNaN  = 0xC000
	numPInf = 0xD000
	numNInf = 0xF000
)

// ErrNumericSpecial is returned when NaN or ±Infinity must become a decimal.
var ErrNumericSpecial = errors.New("numeric NaN or Infinity cannot be represented as an Arrow decimal")

var pow10u64 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// numericHeader splits a binary numeric value.
func numericHeader(src []byte) (ndigits, weight int, sign uint16, dscale int, digits []byte, err error) {
	if len(src) < 8 {
		return 0, 0, 0, 0, nil, fmt.Errorf("numeric: short value (%d bytes)", len(src))
	}
	ndigits = int(binary.BigEndian.Uint16(src))
	weight = int(int16(binary.BigEndian.Uint16(src[2:])))
	sign = binary.BigEndian.Uint16(src[4:])
	dscale = int(binary.BigEndian.Uint16(src[6:]))
	digits = src[8:]
	if len(digits) != 2*ndigits {
		return 0, 0, 0, 0, nil, fmt.Errorf("numeric: %d digits in %d bytes", ndigits, len(digits))
	}
	return ndigits, weight, sign, dscale, digits, nil
}

// numericToBig returns the value of a binary numeric scaled by 10^scale as
// an integer, rounded half away from zero.
func numericToBig(src []byte, scale int) (*big.Int, error) {
	n, weight, sign, _, digits, err := numericHeader(src)
	if err != nil {
		return nil, err
	}
	if sign == numNaN || sign == numPInf || sign == numNInf {
		return nil, ErrNumericSpecial
	}
	acc := new(big.Int)
	tenK := big.NewInt(10000)
	for i := 0; i < n; i++ {
		acc.Mul(acc, tenK)
		acc.Add(acc, big.NewInt(int64(binary.BigEndian.Uint16(digits[2*i:]))))
	}
	e := scale - 4*(n-1-weight)
	if e >= 0 {
		acc.Mul(acc, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil))
	} else {
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-e)), nil)
		q, r := new(big.Int).QuoRem(acc, d, new(big.Int))
		if r.Lsh(r, 1).Cmp(d) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		acc = q
	}
	if sign == numNeg {
		acc.Neg(acc)
	}
	return acc, nil
}

// numericToUint64 is the fast path of numericToBig for magnitudes that fit
// 63 bits. ok is false when the value does not fit.
func numericToInt64(src []byte, scale int) (v int64, ok bool, err error) {
	n, weight, sign, _, digits, err := numericHeader(src)
	if err != nil {
		return 0, false, err
	}
	if sign == numNaN || sign == numPInf || sign == numNInf {
		return 0, false, ErrNumericSpecial
	}
	if n > 4 {
		return 0, false, nil
	}
	var acc uint64
	for i := 0; i < n; i++ {
		acc = acc*10000 + uint64(binary.BigEndian.Uint16(digits[2*i:]))
	}
	e := scale - 4*(n-1-weight)
	switch {
	case e > 0:
		if e >= len(pow10u64) {
			return 0, acc == 0, nil
		}
		hi, lo := bits.Mul64(acc, pow10u64[e])
		if hi != 0 || lo > 1<<63-1 {
			return 0, false, nil
		}
		acc = lo
	case e < 0:
		if -e >= len(pow10u64) {
			return 0, false, nil
		}
		d := pow10u64[-e]
		q, r := acc/d, acc%d
		if 2*r >= d {
			q++
		}
		acc = q
	}
	if acc > 1<<63-1 {
		return 0, false, nil
	}
	if sign == numNeg {
		return -int64(acc), true, nil
	}
	return int64(acc), true, nil
}

// NumericToDecimal128 converts a binary numeric to decimal128 words at scale.
func NumericToDecimal128(src []byte, scale int) (lo, hi uint64, err error) {
	v, ok, err := numericToInt64(src, scale)
	if err != nil {
		return 0, 0, err
	}
	if ok {
		return uint64(v), uint64(v >> 63), nil
	}
	b, err := numericToBig(src, scale)
	if err != nil {
		return 0, 0, err
	}
	w, err := bigToWords(b, 2)
	if err != nil {
		return 0, 0, err
	}
	return w[0], w[1], nil
}

// NumericToDecimal256 converts a binary numeric to decimal256 words at scale.
func NumericToDecimal256(src []byte, scale int) ([4]uint64, error) {
	var out [4]uint64
	b, err := numericToBig(src, scale)
	if err != nil {
		return out, err
	}
	w, err := bigToWords(b, 4)
	if err != nil {
		return out, err
	}
	copy(out[:], w)
	return out, nil
}

// bigToWords returns b as n little-endian two's complement 64-bit words.
func bigToWords(b *big.Int, n int) ([]uint64, error) {
	if b.BitLen() > 64*n-1 {
		return nil, fmt.Errorf("numeric value does not fit %d bits", 64*n)
	}
	mag := new(big.Int).Abs(b)
	w := make([]uint64, n)
	for i, word := range mag.Bits() {
		w[i] = uint64(word)
	}
	if b.Sign() < 0 {
		var carry uint64 = 1
		for i := range w {
			w[i], carry = bits.Add64(^w[i], 0, carry)
		}
	}
	return w, nil
}

// wordsToBig is the inverse of bigToWords.
func wordsToBig(w []uint64) *big.Int {
	neg := w[len(w)-1]>>63 == 1
	mag := make([]uint64, len(w))
	copy(mag, w)
	if neg {
		var carry uint64 = 1
		for i := range mag {
			mag[i], carry = bits.Add64(^mag[i], 0, carry)
		}
	}
	b := new(big.Int)
	for i := len(mag) - 1; i >= 0; i-- {
		b.Lsh(b, 64)
		b.Or(b, new(big.Int).SetUint64(mag[i]))
	}
	if neg {
		b.Neg(b)
	}
	return b
}

// AppendNumericText appends the text form of a binary numeric (as
// PostgreSQL's numeric_out prints it) to dst.
func AppendNumericText(dst, src []byte) ([]byte, error) {
	n, weight, sign, dscale, digits, err := numericHeader(src)
	if err != nil {
		return dst, err
	}
	switch sign {
	case numNaN:
		return append(dst, "NaN"...), nil
	case numPInf:
		return append(dst, "Infinity"...), nil
	case numNInf:
		return append(dst, "-Infinity"...), nil
	case numNeg:
		dst = append(dst, '-')
	}
	if weight < 0 {
		dst = append(dst, '0')
	} else {
		// The first base-10000 digit without its leading zeros.
		d := numericDigit(digits, n, 0)
		switch {
		case d >= 10000: // not a base-10000 digit: printed as it is
			dst = strconv.AppendUint(dst, uint64(d), 10)
		case d >= 1000:
			dst = appendDigits4(dst, d)
		case d >= 100:
			dst = append(dst, byte('0'+d/100), byte('0'+d/10%10), byte('0'+d%10))
		case d >= 10:
			dst = append(dst, byte('0'+d/10), byte('0'+d%10))
		default:
			dst = append(dst, byte('0'+d))
		}
		for i := 1; i <= weight; i++ {
			dst = appendDigits4(dst, numericDigit(digits, n, i))
		}
	}
	if dscale > 0 {
		dst = append(dst, '.')
		i, left := weight+1, dscale
		for ; left >= 4; left -= 4 {
			dst = appendDigits4(dst, numericDigit(digits, n, i))
			i++
		}
		if left > 0 {
			dst = appendDigits4(dst, numericDigit(digits, n, i))
			dst = dst[:len(dst)-4+left]
		}
	}
	return dst, nil
}

// numericDigit returns base-10000 digit i of a binary numeric's n digits,
// 0 outside them.
func numericDigit(digits []byte, n, i int) uint32 {
	if i < 0 || i >= n {
		return 0
	}
	return uint32(binary.BigEndian.Uint16(digits[2*i:]))
}

// appendDigits4 appends the four decimal digits of d (< 10000). The
// divisions are 32-bit: a wasm guest has no 64-bit high multiply, so
// 64-bit division by a constant stays a division.
func appendDigits4(dst []byte, d uint32) []byte {
	return append(dst, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
}

// AppendDecimalText appends the text of an unscaled integer at scale.
func AppendDecimalText(dst []byte, unscaled *big.Int, scale int) []byte {
	return appendScaled(dst, unscaled.String(), scale)
}

// appendScaled appends digits (with optional leading '-') as a decimal with
// scale fraction digits.
func appendScaled(dst []byte, s string, scale int) []byte {
	if len(s) > 0 && s[0] == '-' {
		dst = append(dst, '-')
		s = s[1:]
	}
	if scale <= 0 {
		dst = append(dst, s...)
		for i := 0; i < -scale; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	for len(s) <= scale {
		s = "0" + s
	}
	dst = append(dst, s[:len(s)-scale]...)
	dst = append(dst, '.')
	return append(dst, s[len(s)-scale:]...)
}

// Decimal128Text appends the text of decimal128 words at scale.
func Decimal128Text(dst []byte, lo, hi uint64, scale int) []byte {
	if hi == uint64(int64(lo)>>63) {
		return appendScaled(dst, strconv.FormatInt(int64(lo), 10), scale)
	}
	return appendScaled(dst, wordsToBig([]uint64{lo, hi}).String(), scale)
}

// Decimal256Text appends the text of decimal256 words at scale.
func Decimal256Text(dst []byte, w [4]uint64, scale int) []byte {
	return appendScaled(dst, wordsToBig(w[:]).String(), scale)
}

func appendNumHeader(dst []byte, n, weight int, sign uint16, dscale int) []byte {
	dst = appendBE16(dst, uint16(n))
	dst = appendBE16(dst, uint16(int16(weight)))
	dst = appendBE16(dst, sign)
	return appendBE16(dst, uint16(dscale))
}
