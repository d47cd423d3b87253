package pgarrow

import (
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// NumericsToDecimal128 returns a batch.WireFixed conversion of binary
// numerics to decimal128 at scale: per batch, one loop over the column's
// fields with no call per value. A finite value of at most four
// base-10000 digits whose scaled magnitude fits 63 bits (any numeric(12,2),
// for example) is converted inline; any other value, and every malformed
// one, goes through NumericToDecimal128, so the results and errors are
// exactly its own.
func NumericsToDecimal128(scale int) func(dst []byte, fields batch.WireFields) error {
	return func(dst []byte, fields batch.WireFields) error {
		return numericsToDecimal128(dst, fields, scale)
	}
}

// dropHalf[k], dropMagic[k] and dropShift divide x < 1<<17 by 10^k with
// rounding half up, as (x+dropHalf[k])*dropMagic[k]>>dropShift (checked
// exhaustively by the tests).
const dropShift = 40

var (
	dropHalf  = [4]uint64{0, 5, 50, 500}
	dropMagic = [4]uint64{1 << dropShift, 1<<dropShift/10 + 1, 1<<dropShift/100 + 1, 1<<dropShift/1000 + 1}
)

func numericsToDecimal128(dst []byte, fields batch.WireFields, scale int) error {
	n := fields.Len()
	if len(dst) != n*16 {
		return fmt.Errorf("numeric: %d bytes for %d decimal128 values", len(dst), n)
	}
	out := unsafe.Pointer(unsafe.SliceData(dst))
	for r := 0; r < n; r++ {
		src := fields.Field(r)
		if src == nil {
			continue
		}
		if len(src) >= 8 {
			p := unsafe.Pointer(unsafe.SliceData(src))
			h := bits.ReverseBytes64(*(*uint64)(p)) // ndigits, weight, sign, dscale
			nd := int(h >> 48)
			// Inline when 0 <= nd <= 4 digits fill the value and the sign
			// is + or -: one test of the or of the failing bits.
			if uint64(len(src)-8-2*nd)|uint64(nd+3)>>3|h>>16&(0xffff&^numNeg) == 0 {
				// The last 8 bytes hold the nd digits after 4-nd header
				// words, masked off: value = pre*10000 + last, in units
				// of 10^(4*(weight+1-nd)), with no loop.
				t := bits.ReverseBytes64(*(*uint64)(unsafe.Add(p, len(src)-8))) & (1<<(16*nd) - 1)
				pre := (t>>48*10000+t>>32&0xffff)*10000 + t>>16&0xffff
				last := t & 0xffff
				// Drop k decimal digits (rounding half away from zero, as
				// numericToInt64 does) or append -k zeros to reach scale.
				// 10^k divides 10000, so dropping divides only last.
				var acc, hi uint64
				k := 4*(nd-1-int(int16(h>>32))) - scale
				switch {
				case uint(k) < 4:
					acc = pre*pow10u64[4-k] + (last+dropHalf[k])*dropMagic[k]>>dropShift
				case k < 0 && -k < len(pow10u64):
					hi, acc = bits.Mul64(pre*10000+last, pow10u64[-k])
				default:
					hi = 1 // not inline
				}
				if hi == 0 && acc <= 1<<63-1 {
					neg := -int64(h >> 30 & 1) // 0 or -1
					v := (int64(acc) ^ neg) - neg
					q := unsafe.Add(out, r*16)
					*(*int64)(q) = v
					*(*int64)(unsafe.Add(q, 8)) = v >> 63
					continue
				}
			}
		}
		lo, hi, err := NumericToDecimal128(src, scale)
		if err != nil {
			return err
		}
		q := unsafe.Add(out, r*16)
		*(*uint64)(q) = lo
		*(*uint64)(unsafe.Add(q, 8)) = hi
	}
	return nil
}
