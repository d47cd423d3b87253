package pgarrow

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"unsafe"
)

// Epoch offsets between PostgreSQL (2000-01-01) and Arrow (1970-01-01).
const (
	// EpochDays is the number of days from 1970-01-01 to 2000-01-01.
	EpochDays = 10957
	// EpochMicros is the number of microseconds from 1970-01-01 to 2000-01-01.
	EpochMicros = EpochDays * 86400 * 1000000
)

// Infinity sentinels. PostgreSQL's ±infinity timestamps and dates are sent as
// the int64 / int32 extremes; they map to the same extremes in Arrow (no
// epoch shift), so they round-trip.
const (
	TimestampInfinity    = math.MaxInt64
	TimestampNegInfinity = math.MinInt64
	DateInfinity         = math.MaxInt32
	DateNegInfinity      = math.MinInt32
)

// be16, be32 and be64 load big-endian integers with one unaligned load each
// (the Go wasm backend does not combine byte loads). Callers check lengths.
func be16(b []byte) uint16 {
	return bits.ReverseBytes16(*(*uint16)(unsafe.Pointer(unsafe.SliceData(b))))
}
func be32(b []byte) uint32 {
	return bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(unsafe.SliceData(b))))
}
func be64(b []byte) uint64 {
	return bits.ReverseBytes64(*(*uint64)(unsafe.Pointer(unsafe.SliceData(b))))
}

// JSONBVersion is the first byte of a binary jsonb value.
const JSONBVersion = 1

// ErrJSONBVersion is returned for a binary jsonb value of another version.
var ErrJSONBVersion = errors.New("jsonb: unsupported binary version")

// Decoder decodes PostgreSQL binary values into column writers. It keeps a
// scratch buffer, so it is not safe for concurrent use.
type Decoder struct {
	scratch []byte
}

// Decode appends one binary value of type t to w; src nil is NULL.
func (d *Decoder) Decode(t *Type, w Writer, src []byte) error {
	if src == nil {
		w.AppendNull()
		return nil
	}
	switch t.Kind {
	case KindInt64:
		if len(src) != 8 {
			return lenErr("int8", 8, src)
		}
		w.AppendInt64(int64(be64(src)))
	case KindInt32:
		if len(src) != 4 {
			return lenErr("int4", 4, src)
		}
		w.AppendInt32(int32(be32(src)))
	case KindInt16:
		if len(src) != 2 {
			return lenErr("int2", 2, src)
		}
		w.AppendInt16(int16(be16(src)))
	case KindFloat64:
		if len(src) != 8 {
			return lenErr("float8", 8, src)
		}
		w.AppendFloat64(math.Float64frombits(be64(src)))
	case KindFloat32:
		if len(src) != 4 {
			return lenErr("float4", 4, src)
		}
		w.AppendFloat32(math.Float32frombits(be32(src)))
	case KindBool:
		if len(src) != 1 {
			return lenErr("bool", 1, src)
		}
		w.AppendBool(src[0] != 0)
	case KindText, KindBytes:
		w.AppendBytes(src)
	case KindJSONB:
		if len(src) < 1 || src[0] != JSONBVersion {
			return ErrJSONBVersion
		}
		w.AppendBytes(src[1:])
	case KindTimestamp, KindTimestampTZ:
		if len(src) != 8 {
			return lenErr("timestamp", 8, src)
		}
		v, err := TimestampToArrow(int64(be64(src)))
		if err != nil {
			return err
		}
		w.AppendInt64(v)
	case KindDate:
		if len(src) != 4 {
			return lenErr("date", 4, src)
		}
		w.AppendInt32(DateToArrow(int32(be32(src))))
	case KindTime:
		if len(src) != 8 {
			return lenErr("time", 8, src)
		}
		w.AppendInt64(int64(be64(src)))
	case KindDecimal128:
		lo, hi, err := NumericToDecimal128(src, t.Scale)
		if err != nil {
			return err
		}
		w.AppendDecimal128(lo, hi)
	case KindDecimal256:
		v, err := NumericToDecimal256(src, t.Scale)
		if err != nil {
			return err
		}
		w.AppendDecimal256(v)
	case KindNumericText:
		var err error
		d.scratch, err = AppendNumericText(d.scratch[:0], src)
		if err != nil {
			return err
		}
		w.AppendBytes(d.scratch)
	case KindInterval:
		if len(src) != 16 {
			return lenErr("interval", 16, src)
		}
		micros := int64(be64(src))
		hi, lo := bits.Mul64(uint64(absInt64(micros)), 1000)
		if hi != 0 || lo > math.MaxInt64 {
			return fmt.Errorf("interval of %d microseconds overflows int64 nanoseconds", micros)
		}
		w.AppendMonthDayNano(int32(be32(src[12:])), int32(be32(src[8:])), micros*1000)
	case KindUUID:
		if len(src) != 16 {
			return lenErr("uuid", 16, src)
		}
		d.scratch = AppendUUIDText(d.scratch[:0], src)
		w.AppendBytes(d.scratch)
	case KindInet:
		var err error
		d.scratch, err = appendInetText(d.scratch[:0], src)
		if err != nil {
			return err
		}
		w.AppendBytes(d.scratch)
	case KindMacaddr:
		if len(src) != 6 && len(src) != 8 {
			return lenErr("macaddr", 6, src)
		}
		d.scratch = d.scratch[:0]
		for i, b := range src {
			if i > 0 {
				d.scratch = append(d.scratch, ':')
			}
			d.scratch = hex.AppendEncode(d.scratch, []byte{b})
		}
		w.AppendBytes(d.scratch)
	case KindList:
		return d.decodeArray(t, w, src)
	default:
		return fmt.Errorf("no binary decoder for %s", t.Arrow())
	}
	return nil
}

// decodeArray decodes a one-dimensional binary array into a list value.
func (d *Decoder) decodeArray(t *Type, w Writer, src []byte) error {
	if len(src) < 12 {
		return fmt.Errorf("array: short header")
	}
	ndim := int32(be32(src))
	pos := 12
	ew := w.ElemWriter()
	switch {
	case ndim == 0:
		w.AppendListEnd()
		return nil
	case ndim != 1:
		return fmt.Errorf("array with %d dimensions: only one-dimensional arrays are supported", ndim)
	}
	if len(src) < pos+8 {
		return fmt.Errorf("array: short dimension")
	}
	n := int(int32(be32(src[pos:])))
	pos += 8
	for i := 0; i < n; i++ {
		if len(src) < pos+4 {
			return fmt.Errorf("array: truncated element %d", i)
		}
		l := int(int32(be32(src[pos:])))
		pos += 4
		if l < 0 {
			ew.AppendNull()
			continue
		}
		if len(src) < pos+l {
			return fmt.Errorf("array: truncated element %d", i)
		}
		if err := d.Decode(t.Elem, ew, src[pos:pos+l:pos+l]); err != nil {
			return fmt.Errorf("array element %d: %w", i, err)
		}
		pos += l
	}
	w.AppendListEnd()
	return nil
}

// ErrTimestampRange is returned for timestamps past Arrow's microsecond
// range.
var ErrTimestampRange = errors.New("timestamp beyond 294247-01-10 does not fit Arrow timestamp[us]")

// TimestampToArrow converts PostgreSQL timestamp microseconds (since 2000)
// to Arrow microseconds (since 1970), keeping the infinity sentinels.
func TimestampToArrow(pg int64) (int64, error) {
	switch {
	case pg == math.MaxInt64 || pg == math.MinInt64:
		return pg, nil
	case pg > math.MaxInt64-EpochMicros-1:
		return 0, ErrTimestampRange
	}
	return pg + EpochMicros, nil
}

// TimestampFromArrow is the inverse of TimestampToArrow.
func TimestampFromArrow(v int64) int64 {
	if v == math.MaxInt64 || v == math.MinInt64 {
		return v
	}
	return v - EpochMicros
}

// DateToArrow converts PostgreSQL date days (since 2000) to Arrow date32,
// keeping the infinity sentinels.
func DateToArrow(pg int32) int32 {
	if pg == math.MaxInt32 || pg == math.MinInt32 {
		return pg
	}
	return pg + EpochDays
}

// DateFromArrow is the inverse of DateToArrow.
func DateFromArrow(v int32) int32 {
	if v == math.MaxInt32 || v == math.MinInt32 {
		return v
	}
	return v - EpochDays
}

// AppendUUIDText appends the canonical text of a 16-byte uuid.
func AppendUUIDText(dst, u []byte) []byte {
	dst = hex.AppendEncode(dst, u[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, u[10:16])
}

// appendInetText appends the text form of a binary inet / cidr value as
// PostgreSQL prints it: the address, then "/bits" for cidr or when the
// prefix is shorter than the address.
func appendInetText(dst, src []byte) ([]byte, error) {
	if len(src) < 4 {
		return dst, fmt.Errorf("inet: short value")
	}
	family, nbits, isCidr, nb := src[0], int(src[1]), src[2] != 0, int(src[3])
	addr := src[4:]
	if len(addr) != nb {
		return dst, fmt.Errorf("inet: %d address bytes, header says %d", len(addr), nb)
	}
	var ip netip.Addr
	switch {
	case family == 2 && nb == 4:
		ip = netip.AddrFrom4([4]byte(addr))
	case family == 3 && nb == 16:
		ip = netip.AddrFrom16([16]byte(addr))
	default:
		return dst, fmt.Errorf("inet: unknown family %d", family)
	}
	dst = ip.AppendTo(dst)
	if isCidr || nbits != ip.BitLen() {
		dst = append(dst, '/')
		dst = fmt.Appendf(dst, "%d", nbits)
	}
	return dst, nil
}

func absInt64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func lenErr(name string, want int, src []byte) error {
	return fmt.Errorf("%s: want %d bytes, got %d", name, want, len(src))
}
