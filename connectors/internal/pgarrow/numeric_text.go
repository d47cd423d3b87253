package pgarrow

import (
	"fmt"
	"strconv"
	"unsafe"
)

// numericText is a numeric text parsed in place: an optional sign, the
// digits int (before the point) and frac (after it), and an exponent that
// moves the point. Its base-10000 digits are computed on demand from the
// text, so encoding one allocates nothing.
//
// The digit sequence D is int followed by frac; the point sits after
// point digits of D (negative or past the end: zeros fill the gap). The
// integer part is max(point, 0) digits long, the fraction (the numeric's
// dscale) max(len(D)-point, 0).
type numericText struct {
	s              []byte
	i0, nInt       int // int is s[i0 : i0+nInt]
	f0, nFrac      int // frac is s[f0 : f0+nFrac]
	neg            bool
	point          int // the point's position in D
	lead           int // zeros before the integer part's first digit, padding it to whole base-10000 digits
	groups, weight int // base-10000 digits, and the weight of the first
}

// parseNumericText parses s, digits with an optional sign, decimal point
// and exponent (at most ±1000). It reports false for anything else, NaN
// and the infinities included, and for a numeric beyond PostgreSQL's
// binary format.
func parseNumericText(s []byte) (t numericText, ok bool) {
	t.s = s
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		t.neg = s[i] == '-'
		i++
	}
	t.i0 = i
	for i < len(s) && s[i]-'0' <= 9 {
		i++
	}
	t.nInt = i - t.i0
	t.f0 = i
	if i < len(s) && s[i] == '.' {
		i++
		t.f0 = i
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
	}
	t.nFrac = i - t.f0
	if t.nInt+t.nFrac == 0 {
		return t, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(string(s[i+1:]))
		if err != nil || e > 1000 || e < -1000 {
			return t, false
		}
		exp, i = e, len(s)
	}
	if i != len(s) {
		return t, false
	}
	t.point = t.nInt + exp
	intLen := max(t.point, 0)
	t.lead = (4 - intLen%4) % 4
	t.groups = (t.lead + intLen + t.dscale() + 3) / 4
	t.weight = (t.lead+intLen)/4 - 1
	// numeric_recv's limits: a dscale of at most 0x3FFF, a digit count
	// that fits the header's 16 bits.
	return t, t.dscale() <= 0x3FFF && t.groups <= 0xFFFF
}

// dscale is the number of fraction digits.
func (t *numericText) dscale() int { return max(t.nInt+t.nFrac-t.point, 0) }

// digit returns decimal digit j of the padded digits: lead zeros, the
// integer part, the fraction, then zeros. Digit j is D's digit
// j-lead+min(point, 0): a point before D puts -point zeros first, one
// past it zeros after D.
func (t *numericText) digit(j int) uint16 {
	m := j - t.lead + min(t.point, 0)
	if m < 0 || m >= t.nInt+t.nFrac {
		return 0
	}
	if m < t.nInt {
		return uint16(t.s[t.i0+m] - '0')
	}
	return uint16(t.s[t.f0+m-t.nInt] - '0')
}

// group returns base-10000 digit k.
func (t *numericText) group(k int) uint16 {
	j := 4 * k
	return t.digit(j)*1000 + t.digit(j+1)*100 + t.digit(j+2)*10 + t.digit(j+3)
}

// trim returns the range [k0, k1) of base-10000 digits between the first
// and the last non-zero one (k0 == k1 for zero).
func (t *numericText) trim() (k0, k1 int) {
	k0, k1 = 0, t.groups
	for k0 < k1 && t.group(k0) == 0 {
		k0++
	}
	for k1 > k0 && t.group(k1-1) == 0 {
		k1--
	}
	return k0, k1
}

// header returns the binary numeric's header of the digits [k0, k1).
func (t *numericText) header(k0, k1 int) (n, weight int, sign uint16) {
	if k0 == k1 {
		return 0, 0, numPos // zero, "-0" too
	}
	sign = numPos
	if t.neg {
		sign = numNeg
	}
	return k1 - k0, t.weight - k0, sign
}

// AppendNumericBinary encodes a numeric text (digits with optional sign,
// decimal point and exponent, or NaN / Infinity / -Infinity) as
// PostgreSQL's binary numeric and appends it to dst. Into a dst with room
// it allocates nothing.
func AppendNumericBinary(dst []byte, text []byte) ([]byte, error) {
	switch string(text) {
	case "NaN", "nan", "NAN":
		return appendNumHeader(dst, 0, 0, numNaN, 0), nil
	case "Infinity", "infinity", "+Infinity", "inf", "Inf":
		return appendNumHeader(dst, 0, 0, numPInf, 0), nil
	case "-Infinity", "-infinity", "-inf", "-Inf":
		return appendNumHeader(dst, 0, 0, numNInf, 0), nil
	}
	t, ok := parseNumericText(text)
	if !ok {
		return dst, fmt.Errorf("invalid numeric %q", text)
	}
	k0, k1 := t.trim()
	n, weight, sign := t.header(k0, k1)
	dst = appendNumHeader(dst, n, weight, sign, t.dscale())
	for k := k0; k < k1; k++ {
		dst = appendBE16(dst, t.group(k))
	}
	return dst, nil
}

// maxSlotDigits is how many base-10000 digits a decSlot holds after the
// length and the header.
const maxSlotDigits = (decSlot - 12) / 2

// encodeNumericTexts is encodeDecimals for a utf8 column of numeric texts
// (offs its offsets from row from on, data its data buffer): each row's
// length-prefixed binary numeric (or NULL) goes into its decSlot slot of
// slots and its field size is added to the row's. It returns the sum of
// the field sizes, and false when a non-null value is not a plain number
// of at most maxSlotDigits base-10000 digits (NaN, the infinities and
// invalid texts included: the row path encodes or rejects those), or the
// offsets do not ascend within data.
func encodeNumericTexts(cur []int, slots, offs, data []byte, vp unsafe.Pointer, from int) (int, bool) {
	_ = slots[len(cur)*decSlot-1]
	_ = offs[len(cur)*4+3]
	s := unsafe.Pointer(unsafe.SliceData(slots))
	sum := 0
	for j := range cur {
		q := j * decSlot
		n := 4
		if bit(vp, from+j) == 0 {
			*(*uint32)(unsafe.Add(s, q)) = 0xffffffff
		} else {
			lo := int(*(*int32)(unsafe.Pointer(&offs[j*4])))
			hi := int(*(*int32)(unsafe.Pointer(&offs[j*4+4])))
			if lo < 0 || hi < lo || hi > len(data) {
				return 0, false
			}
			t, ok := parseNumericText(data[lo:hi])
			if !ok {
				return 0, false
			}
			k0, k1 := t.trim()
			nd, weight, sign := t.header(k0, k1)
			if nd > maxSlotDigits {
				return 0, false
			}
			store32(s, q, uint32(8+2*nd))
			store64(s, q+4, uint64(nd)<<48|uint64(uint16(weight))<<32|uint64(sign)<<16|uint64(t.dscale()))
			for k := k0; k < k1; k++ {
				store16(s, q+12+2*(k-k0), t.group(k))
			}
			n = 12 + 2*nd
		}
		cur[j] += n
		sum += n
	}
	return sum, true
}
