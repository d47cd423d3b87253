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
// binary format (more than 131,072 digits before the point, 16,383 after
// it).
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
	// Leading zeros of the integer part change nothing: drop them, so
	// that the format's limits below apply to the value, not the text.
	for t.nInt > 0 && s[t.i0] == '0' {
		t.i0++
		t.nInt--
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
	// The binary format's limits: a dscale of at most 0x3FFF (numeric_recv
	// rejects more), a weight that fits its 16 signed bits (the trimmed
	// weight is at most this one) and a digit count that fits 16 bits.
	return t, t.dscale() <= 0x3FFF && t.weight <= 0x7FFF && t.groups <= 0xFFFF
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

// group returns base-10000 digit k: in one piece when its four decimal
// digits lie within int or within frac, the common case.
func (t *numericText) group(k int) uint16 {
	j := 4*k - t.lead + min(t.point, 0) // D's index of its first decimal digit
	if j >= 0 && j+4 <= t.nInt {
		return digits4(t.s[t.i0+j:])
	}
	if j >= t.nInt && j+4 <= t.nInt+t.nFrac {
		return digits4(t.s[t.f0+j-t.nInt:])
	}
	j = 4 * k
	return t.digit(j)*1000 + t.digit(j+1)*100 + t.digit(j+2)*10 + t.digit(j+3)
}

// digits4 returns the value of the four decimal digits b starts with.
func digits4(b []byte) uint16 {
	_ = b[3]
	return uint16(b[0]-'0')*1000 + uint16(b[1]-'0')*100 + uint16(b[2]-'0')*10 + uint16(b[3]-'0')
}

// appendGroups appends the base-10000 digits of t from its first to its
// last non-zero one (big-endian, two bytes each) and returns dst, their
// number and the weight of the first (0 and 0 for zero). It appends at
// most t.groups digits: zeros are held back until a non-zero digit
// follows them.
func (t *numericText) appendGroups(dst []byte) ([]byte, int, int) {
	first, n, zeros := -1, 0, 0
	for k := range t.groups {
		d := t.group(k)
		if d == 0 {
			if first >= 0 {
				zeros++
			}
			continue
		}
		if first < 0 {
			first = k
		}
		for ; zeros > 0; zeros-- {
			dst = appendBE16(dst, 0)
			n++
		}
		dst = appendBE16(dst, d)
		n++
	}
	if first < 0 {
		return dst, 0, 0
	}
	return dst, n, t.weight - first
}

// sign returns the sign word of t with n base-10000 digits (zero is
// positive, "-0" too).
func (t *numericText) sign(n int) uint16 {
	if t.neg && n > 0 {
		return numNeg
	}
	return numPos
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
		if len(text) > maxQuotedText {
			return dst, fmt.Errorf("invalid numeric %q... (%d bytes)", text[:maxQuotedText], len(text))
		}
		return dst, fmt.Errorf("invalid numeric %q", text)
	}
	at := len(dst)
	dst = appendNumHeader(dst, 0, 0, 0, 0) // filled in below
	dst, n, weight := t.appendGroups(dst)
	appendNumHeader(dst[at:at], n, weight, t.sign(n), t.dscale())
	return dst, nil
}

// maxQuotedText is how much of an invalid numeric text an error quotes.
const maxQuotedText = 64

// maxSlotDigits is how many base-10000 digits a decSlot holds after the
// length and the header.
const maxSlotDigits = (decSlot - 12) / 2

// encodeNumericTexts is encodeDecimals for a utf8 column of numeric texts
// (offs its offsets from row from on, data its data buffer): each row's
// length-prefixed binary numeric (or NULL) goes into its decSlot slot of
// slots and its field size is added to the row's. It returns the sum of
// the field sizes, and false when a non-null value is not a plain number
// of at most maxSlotDigits base-10000 digits, leading and trailing zero
// ones included (NaN, the infinities and invalid texts too: the row path
// encodes or rejects those), or the offsets do not ascend within data.
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
			if !ok || t.groups > maxSlotDigits {
				return 0, false
			}
			// Appended within the slot's capacity: no allocation.
			_, nd, weight := t.appendGroups(slots[q+12 : q+12 : q+decSlot])
			store32(s, q, uint32(8+2*nd))
			store64(s, q+4, uint64(nd)<<48|uint64(uint16(weight))<<32|uint64(t.sign(nd))<<16|uint64(t.dscale()))
			n = 12 + 2*nd
		}
		cur[j] += n
		sum += n
	}
	return sum, true
}
