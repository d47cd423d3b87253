package pgarrow

import (
	"math/bits"
	"unsafe"
)

// maxFastDecScale is the largest decimal128 scale fastDec handles: the
// fraction, padded to whole base-10000 digits, then fits 64 bits.
const maxFastDecScale = 16

// fastDecRoom is the largest fastDec field: length, numeric header and at
// most 5 integer plus 4 fraction base-10000 digits.
const fastDecRoom = 4 + 8 + 2*9

// decSlot is the size of one encoded decimal in Encoder.dec (at least
// fastDecRoom).
const decSlot = 32

// encodeDecimals encodes each row's decimal128 (values, 16 bytes each) of
// the fastDec column rc as a length-prefixed binary numeric (or NULL) into its decSlot
// slot of slots and adds the field size to the row's. It returns the sum
// of the field sizes, and false when a non-null value does not fit 64
// bits.
func encodeDecimals(cur []int, slots, values []byte, vp unsafe.Pointer, from int, rc *rawCol) (int, bool) {
	_ = slots[len(cur)*decSlot-1]
	_ = values[len(cur)*16-1]
	s := unsafe.Pointer(unsafe.SliceData(slots))
	v := unsafe.Pointer(unsafe.SliceData(values))
	scale, pad, lim := rc.scale, rc.pad, rc.lim
	fg := (scale + 3) >> 2
	var wide uint64
	sum := 0
	for j := range cur {
		q := j * decSlot
		b := bit(vp, from+j)
		lo := *(*uint64)(unsafe.Add(v, j*16))
		hi := *(*uint64)(unsafe.Add(v, j*16+8))
		w := hi ^ uint64(int64(lo)>>63)
		if lo == 1<<63 {
			w = 1 // MinInt64 has no int64 negation
		}
		wide |= w & -uint64(b)
		// A NULL slot holds the encoded (garbage) value behind an
		// all-ones length.
		var n int
		u, sign := lo, uint64(numPos)
		if int64(lo) < 0 {
			u, sign = -lo, numNeg
		}
		if x := u * pad; u < 1e8 && x < 1e8 {
			// At most two base-10000 digits (most prices and amounts):
			// putNumericDigits inline, without the call, which in a
			// wasm guest costs more than the digits.
			x32 := uint32(x)
			d1 := x32 / 10000
			d0 := x32 - d1*10000
			top, nd, first := 0, 0, d0
			if d1 != 0 {
				top, nd, first = 1, 1, d1
			}
			if d0 != 0 {
				nd++
			}
			weight := uint64(uint16(top - fg))
			if nd == 0 {
				weight = 0 // zero: no digits, weight 0
			}
			store16(s, q+12, uint16(first))
			store16(s, q+14, uint16(d0))
			store32(s, q, uint32(8+2*nd))
			store64(s, q+4, uint64(nd)<<48|weight<<32|sign<<16|uint64(scale))
			n = 12 + 2*nd
		} else {
			n = putNumericDigits(s, q, lo, scale, pad, lim, fg) - q
		}
		*(*uint32)(unsafe.Add(s, q)) |= uint32(b - 1)
		n = 4 + (n-4)&-b
		cur[j] += n
		sum += n
	}
	return sum, wide == 0
}

// putNumericDigits stores the length-prefixed binary numeric of the int64
// lo / 10^scale (pad = 10^(4*fg-scale), lim = MaxUint64/pad, fg fraction
// digits in base 10000) at base+p, which has fastDecRoom bytes, and
// returns the position after it. It writes what appendNumericInt64
// appends, and may store garbage in the rest of the room.
func putNumericDigits(base unsafe.Pointer, p int, lo uint64, scale int, pad, lim uint64, fg int) int {
	sign := uint64(numPos)
	u := lo
	if int64(lo) < 0 {
		sign, u = numNeg, -lo
	}
	if u == 0 {
		store32(base, p, 8)
		store64(base, p+4, uint64(scale)) // no digits, weight 0, positive
		return p + 12
	}
	if u > lim {
		return putNumericWide(base, p, u, sign, scale, fg)
	}
	// The base-10000 digits of u*pad are those of the numeric, the last
	// fg of them the fraction: at most five, d4 (most significant) to d0.
	// Straight-line code: in a wasm guest a loop iteration costs more than
	// the division by a constant.
	x := u * pad
	var d4, d3, d2 uint64
	if x >= 1e8 {
		h := x / 1e8
		x -= h * 1e8
		if h >= 1e8 {
			d4 = h / 1e8
			h -= d4 * 1e8
		}
		h32 := uint32(h)
		d3 = uint64(h32 / 10000)
		d2 = uint64(h32 - uint32(d3)*10000)
	}
	x32 := uint32(x)
	d1 := uint64(x32 / 10000)
	d0 := uint64(x32 - uint32(d1)*10000)
	// The first (top) and last (bot) non-zero digit.
	top, bot := 0, 4
	if d1 != 0 {
		top = 1
	}
	if d2 != 0 {
		top = 2
	}
	if d3 != 0 {
		top = 3
	}
	if d4 != 0 {
		top = 4
	}
	if d3 != 0 {
		bot = 3
	}
	if d2 != 0 {
		bot = 2
	}
	if d1 != 0 {
		bot = 1
	}
	if d0 != 0 {
		bot = 0
	}
	nd := top - bot + 1
	// All five digits, digit top at p+12: the zeros before it land in the
	// header, stored next, and those after bot past the field.
	q := p + 4 + 2*top
	store16(base, q, uint16(d4))
	store16(base, q+2, uint16(d3))
	store16(base, q+4, uint16(d2))
	store16(base, q+6, uint16(d1))
	store16(base, q+8, uint16(d0))
	store32(base, p, uint32(8+2*nd))
	store64(base, p+4, uint64(nd)<<48|uint64(uint16(top-fg))<<32|sign<<16|uint64(scale))
	return p + 12 + 2*nd
}

// putNumericWide is putNumericDigits for a magnitude u (non-zero) whose
// padded value does not fit 64 bits.
func putNumericWide(base unsafe.Pointer, p int, u, sign uint64, scale, fg int) int {
	// Base-10000 digits, least significant first, into g[k:]: the
	// fraction padded to whole digits, then the integer part.
	var g [9]uint16
	k := len(g)
	d := pow10u64[scale]
	ip := u / d
	fp := (u - ip*d) * pow10u64[4*fg-scale]
	for f := fg; f > 0; f-- {
		k--
		q := fp / 10000
		g[k] = uint16(fp - q*10000)
		fp = q
	}
	weight := -1
	for ip > 0 {
		k--
		q := ip / 10000
		g[k] = uint16(ip - q*10000)
		ip = q
		weight++
	}
	for g[k] == 0 { // u != 0, so some digit is not
		k++
		weight--
	}
	last := len(g)
	for g[last-1] == 0 {
		last--
	}
	nd := last - k
	store32(base, p, uint32(8+2*nd))
	store64(base, p+4, uint64(nd)<<48|uint64(uint16(weight))<<32|sign<<16|uint64(scale))
	p += 12
	for ; k < last; k++ {
		store16(base, p, g[k])
		p += 2
	}
	return p
}

// putSlots copies each row's field from its decSlot slot of slots (a
// length-prefixed value of 12 to 30 bytes, or a NULL) by four overlapping
// words, which for a NULL go to the scratch position.
func putSlots(base unsafe.Pointer, cur []int, slots []byte, scratch int) {
	_ = slots[len(cur)*decSlot-1]
	s := unsafe.Pointer(unsafe.SliceData(slots))
	for j, q := range cur {
		src := unsafe.Add(s, j*decSlot)
		l := *(*uint32)(src)
		n := 4 + int(bits.ReverseBytes32(l))
		dq, adv := q, n
		if l == 0xffffffff {
			// Copied as 12 bytes to the scratch position.
			n, dq, adv = 12, scratch, 4
		}
		// Words at 0, a, c and n-8 cover the n bytes.
		a, c := 8, n-16
		if n < 16 {
			a, c = n-8, 0
		}
		dst := unsafe.Add(base, dq)
		*(*uint64)(dst) = *(*uint64)(src)
		*(*uint64)(unsafe.Add(dst, a)) = *(*uint64)(unsafe.Add(src, a))
		*(*uint64)(unsafe.Add(dst, c)) = *(*uint64)(unsafe.Add(src, c))
		*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		*(*uint32)(unsafe.Add(base, q)) = l
		cur[j] = q + adv
	}
}
