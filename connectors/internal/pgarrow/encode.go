package pgarrow

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// copyHeader starts every binary COPY stream: signature, flags, extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// AppendCopyHeader appends the binary COPY header.
func AppendCopyHeader(dst []byte) []byte { return append(dst, copyHeader...) }

// AppendCopyTrailer appends the binary COPY trailer.
func AppendCopyTrailer(dst []byte) []byte { return append(dst, 0xff, 0xff) }

// encodeFunc appends the binary value of row i (known non-null) to dst.
type encodeFunc func(dst []byte, r Reader, i int) ([]byte, error)

// Encoder turns rows of Arrow columns into binary COPY tuples for a target
// table. Build it once per stream with NewEncoder. An Encoder is not safe
// for concurrent use.
type Encoder struct {
	fns    []encodeFunc
	fast   []fastKind // inline conversion per column (see RawColumn)
	scale  []int      // decimal scale of fastDec columns
	raw    []rawCol   // AppendRows scratch
	cur    []int      // appendColumns scratch: per-row cursor
	dec    []byte     // appendColumns scratch: encoded decimals
	ones   []byte     // appendColumns scratch: an all-valid bitmap
	starts []int      // appendColumns scratch: field starts of a jsonb column
}

// NewEncoder returns an encoder writing columns of Arrow types src into
// PostgreSQL columns of types dst (same length and order). It fails when a
// pair has no conversion.
func NewEncoder(dst, src []Type) (*Encoder, error) {
	if len(dst) != len(src) {
		return nil, fmt.Errorf("encoder: %d target columns for %d source columns", len(dst), len(src))
	}
	e := &Encoder{fns: make([]encodeFunc, len(dst)), fast: make([]fastKind, len(dst)), scale: make([]int, len(dst))}
	for i := range dst {
		fn, err := encoderFor(&dst[i], &src[i])
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
		e.fns[i] = fn
		e.fast[i] = fastKindFor(&dst[i], &src[i])
		e.scale[i] = src[i].Scale
	}
	return e, nil
}

// AppendRows appends rows [from, to) of cols as COPY tuples to dst.
func (e *Encoder) AppendRows(dst []byte, cols []Reader, from, to int) ([]byte, error) {
	if littleEndian {
		e.setRaw(cols)
		return e.appendRowsInline(dst, cols, from, to)
	}
	n := len(e.fns)
	for i := from; i < to; i++ {
		dst = appendBE16(dst, uint16(n))
		for c, fn := range e.fns {
			r := cols[c]
			if r.IsNull(i) {
				dst = append(dst, 0xff, 0xff, 0xff, 0xff)
				continue
			}
			var err error
			if dst, err = fn(dst, r, i); err != nil {
				return dst, fmt.Errorf("row %d column %d: %w", i, c, err)
			}
		}
	}
	return dst, nil
}

func appendLen(dst []byte, n int) []byte { return appendBE32(dst, uint32(n)) }

// withLen appends a length placeholder, runs body and patches the length.
func withLen(dst []byte, body func([]byte) ([]byte, error)) ([]byte, error) {
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := body(dst)
	if err != nil {
		return dst[:at], err
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst, nil
}

func isInt(k Kind) bool { return k == KindInt16 || k == KindInt32 || k == KindInt64 }

func isText(k Kind) bool {
	switch k {
	case KindText, KindNumericText, KindJSONB, KindUUID, KindInet, KindMacaddr:
		return true
	}
	return false
}

func readInt(r Reader, k Kind, i int) int64 {
	switch k {
	case KindInt16:
		return int64(r.Int16(i))
	case KindInt32:
		return int64(r.Int32(i))
	}
	return r.Int64(i)
}

func encoderFor(dst, src *Type) (encodeFunc, error) {
	bad := fmt.Errorf("cannot write arrow %s into PostgreSQL %s", src.Arrow(), dst.PGName())
	if dst.Cast {
		return nil, fmt.Errorf("PostgreSQL column type (oid %d) has no binary encoder", dst.OID)
	}
	sk := src.Kind
	switch dst.Kind {
	case KindInt16, KindInt32, KindInt64:
		if !isInt(sk) {
			return nil, bad
		}
		width := map[Kind]int{KindInt16: 2, KindInt32: 4, KindInt64: 8}[dst.Kind]
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if width == 2 {
			lo, hi = math.MinInt16, math.MaxInt16
		} else if width == 4 {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := readInt(r, sk, i)
			if v < lo || v > hi {
				return b, fmt.Errorf("value %d out of range for %s", v, dst.PGName())
			}
			b = appendLen(b, width)
			switch width {
			case 2:
				return appendBE16(b, uint16(v)), nil
			case 4:
				return appendBE32(b, uint32(v)), nil
			}
			return appendBE64(b, uint64(v)), nil
		}, nil
	case KindFloat32, KindFloat64:
		if sk != KindFloat32 && sk != KindFloat64 {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			var v float64
			if sk == KindFloat32 {
				v = float64(r.Float32(i))
			} else {
				v = r.Float64(i)
			}
			if dst.Kind == KindFloat32 {
				return appendBE32(appendLen(b, 4), math.Float32bits(float32(v))), nil
			}
			return appendBE64(appendLen(b, 8), math.Float64bits(v)), nil
		}, nil
	case KindDecimal128, KindDecimal256, KindNumericText:
		return numericEncoder(src, bad)
	case KindBool:
		if sk != KindBool {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			if r.Bool(i) {
				return append(appendLen(b, 1), 1), nil
			}
			return append(appendLen(b, 1), 0), nil
		}, nil
	case KindText, KindBytes:
		if !isText(sk) && sk != KindBytes {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := r.Bytes(i)
			return append(appendLen(b, len(v)), v...), nil
		}, nil
	case KindJSONB:
		if !isText(sk) {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := r.Bytes(i)
			return append(append(appendLen(b, len(v)+1), 1), v...), nil
		}, nil
	case KindUUID:
		if !isText(sk) && sk != KindBytes {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := r.Bytes(i)
			if sk == KindBytes {
				if len(v) != 16 {
					return b, fmt.Errorf("uuid: want 16 bytes, got %d", len(v))
				}
				return append(appendLen(b, 16), v...), nil
			}
			return appendUUIDBinary(b, v)
		}, nil
	case KindInet:
		if !isText(sk) {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) { return appendInetBinary(b, r.Bytes(i), dst.Cidr) }, nil
	case KindMacaddr:
		if !isText(sk) {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			mac, err := net.ParseMAC(string(r.Bytes(i)))
			if err != nil {
				return b, fmt.Errorf("macaddr: %w", err)
			}
			if want := map[bool]int{false: 6, true: 8}[dst.Mac8]; len(mac) != want {
				return b, fmt.Errorf("macaddr: want %d bytes, got %d", want, len(mac))
			}
			return append(appendLen(b, len(mac)), mac...), nil
		}, nil
	case KindDate:
		if sk != KindDate {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			return appendBE32(appendLen(b, 4), uint32(DateFromArrow(r.Int32(i)))), nil
		}, nil
	case KindTime:
		if sk != KindTime {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			return appendBE64(appendLen(b, 8), uint64(r.Int64(i))), nil
		}, nil
	case KindTimestamp, KindTimestampTZ:
		if sk != KindTimestamp && sk != KindTimestampTZ {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			return appendBE64(appendLen(b, 8), uint64(TimestampFromArrow(r.Int64(i)))), nil
		}, nil
	case KindInterval:
		if sk != KindInterval {
			return nil, bad
		}
		return func(b []byte, r Reader, i int) ([]byte, error) {
			months, days, nanos := r.MonthDayNano(i)
			b = appendBE64(appendLen(b, 16), uint64(nanos/1000))
			b = appendBE32(b, uint32(days))
			return appendBE32(b, uint32(months)), nil
		}, nil
	case KindList:
		if sk != KindList {
			return nil, bad
		}
		elem, err := encoderFor(dst.Elem, src.Elem)
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		elemOID := dst.Elem.OID
		return func(b []byte, r Reader, i int) ([]byte, error) {
			start, end := r.ListRange(i)
			er := r.ElemReader()
			return withLen(b, func(b []byte) ([]byte, error) {
				if start == end {
					b = appendBE32(b, 0)
					b = appendBE32(b, 0)
					return appendBE32(b, elemOID), nil
				}
				hasNull := uint32(0)
				for j := start; j < end; j++ {
					if er.IsNull(j) {
						hasNull = 1
						break
					}
				}
				b = appendBE32(b, 1)
				b = appendBE32(b, hasNull)
				b = appendBE32(b, elemOID)
				b = appendBE32(b, uint32(end-start))
				b = appendBE32(b, 1)
				for j := start; j < end; j++ {
					if er.IsNull(j) {
						b = append(b, 0xff, 0xff, 0xff, 0xff)
						continue
					}
					var err error
					if b, err = elem(b, er, j); err != nil {
						return b, err
					}
				}
				return b, nil
			})
		}, nil
	}
	return nil, bad
}

func numericEncoder(src *Type, bad error) (encodeFunc, error) {
	switch src.Kind {
	case KindDecimal128:
		scale := src.Scale
		return func(b []byte, r Reader, i int) ([]byte, error) {
			lo, hi := r.Decimal128(i)
			if hi == uint64(int64(lo)>>63) && int64(lo) != math.MinInt64 && scale <= 16 {
				return withLen(b, func(b []byte) ([]byte, error) { return appendNumericInt64(b, int64(lo), scale), nil })
			}
			txt := Decimal128Text(nil, lo, hi, scale)
			return withLen(b, func(b []byte) ([]byte, error) { return AppendNumericBinary(b, txt) })
		}, nil
	case KindDecimal256:
		scale := src.Scale
		return func(b []byte, r Reader, i int) ([]byte, error) {
			txt := Decimal256Text(nil, r.Decimal256(i), scale)
			return withLen(b, func(b []byte) ([]byte, error) { return AppendNumericBinary(b, txt) })
		}, nil
	case KindInt16, KindInt32, KindInt64:
		k := src.Kind
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := readInt(r, k, i)
			if v == math.MinInt64 {
				return withLen(b, func(b []byte) ([]byte, error) {
					return AppendNumericBinary(b, []byte(strconv.FormatInt(v, 10)))
				})
			}
			return withLen(b, func(b []byte) ([]byte, error) { return appendNumericInt64(b, v, 0), nil })
		}, nil
	}
	if isText(src.Kind) {
		return func(b []byte, r Reader, i int) ([]byte, error) {
			v := r.Bytes(i)
			return withLen(b, func(b []byte) ([]byte, error) { return AppendNumericBinary(b, v) })
		}, nil
	}
	return nil, bad
}

// appendNumericInt64 appends the binary numeric of v / 10^scale
// (v != MinInt64, 0 <= scale <= 16, so the padded fraction fits 64 bits)
// without allocating.
func appendNumericInt64(dst []byte, v int64, scale int) []byte {
	sign := uint16(numPos)
	u := uint64(v)
	if v < 0 {
		sign, u = numNeg, uint64(-v)
	}
	ip, fp := u/pow10u64[scale], u%pow10u64[scale]
	fg := (scale + 3) / 4
	fp *= pow10u64[4*fg-scale]
	var groups [12]uint16
	n := 0
	var ig [5]uint16
	ni := 0
	for ip > 0 {
		ig[ni] = uint16(ip % 10000)
		ip /= 10000
		ni++
	}
	for j := ni - 1; j >= 0; j-- {
		groups[n] = ig[j]
		n++
	}
	for j := fg - 1; j >= 0; j-- {
		groups[n+j] = uint16(fp % 10000)
		fp /= 10000
	}
	n += fg
	weight := ni - 1
	first := 0
	for first < n && groups[first] == 0 {
		first++
		weight--
	}
	last := n
	for last > first && groups[last-1] == 0 {
		last--
	}
	if first == last {
		return appendNumHeader(dst, 0, 0, numPos, scale)
	}
	dst = appendNumHeader(dst, last-first, weight, sign, scale)
	for _, g := range groups[first:last] {
		dst = appendBE16(dst, g)
	}
	return dst
}

// appendUUIDBinary appends a length-prefixed 16-byte uuid parsed from text
// (with or without hyphens and braces).
func appendUUIDBinary(dst, text []byte) ([]byte, error) {
	s := strings.Trim(string(text), "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return dst, fmt.Errorf("invalid uuid %q", text)
	}
	dst = appendLen(dst, 16)
	out, err := hex.AppendDecode(dst, []byte(s))
	if err != nil {
		return dst[:len(dst)-4], fmt.Errorf("invalid uuid %q", text)
	}
	return out, nil
}

// appendInetBinary appends a length-prefixed binary inet / cidr parsed from
// its text form ("addr" or "addr/bits").
func appendInetBinary(dst, text []byte, cidr bool) ([]byte, error) {
	s := string(text)
	var addr netip.Addr
	bitsN := -1
	if a, p, ok := strings.Cut(s, "/"); ok {
		var err error
		if addr, err = netip.ParseAddr(a); err != nil {
			return dst, fmt.Errorf("invalid inet %q", s)
		}
		if bitsN, err = strconv.Atoi(p); err != nil || bitsN < 0 || bitsN > addr.BitLen() {
			return dst, fmt.Errorf("invalid inet %q", s)
		}
	} else {
		var err error
		if addr, err = netip.ParseAddr(s); err != nil {
			return dst, fmt.Errorf("invalid inet %q", s)
		}
	}
	if bitsN < 0 {
		bitsN = addr.BitLen()
	}
	family, raw := byte(2), addr.AsSlice()
	if addr.Is6() {
		family = 3
	}
	isCidr := byte(0)
	if cidr {
		isCidr = 1
	}
	dst = appendLen(dst, 4+len(raw))
	dst = append(dst, family, byte(bitsN), isCidr, byte(len(raw)))
	return append(dst, raw...), nil
}
