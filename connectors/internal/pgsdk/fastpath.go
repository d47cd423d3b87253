package pgsdk

import (
	"encoding/binary"
	"math"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// wireColumn returns how AppendWireRow converts type t into column c:
// inline for fixed-width integers and floats, booleans, text and bytea,
// timestamps and dates (epoch shift keeping the infinity sentinels), else
// through fastDecoder or the generic decoder writing to w.
func wireColumn(c batch.Column, t *pgarrow.Type, w pgarrow.Writer) batch.WireColumn {
	switch t.Kind {
	case pgarrow.KindInt64, pgarrow.KindFloat64:
		return batch.WireColumn{Kind: batch.WireBE64}
	case pgarrow.KindInt32, pgarrow.KindFloat32:
		return batch.WireColumn{Kind: batch.WireBE32}
	case pgarrow.KindInt16:
		return batch.WireColumn{Kind: batch.WireBE16}
	case pgarrow.KindBool:
		return batch.WireColumn{Kind: batch.WireBool}
	case pgarrow.KindText, pgarrow.KindBytes:
		return batch.WireColumn{Kind: batch.WireBytes}
	case pgarrow.KindTimestamp, pgarrow.KindTimestampTZ:
		return batch.WireColumn{Kind: batch.WireBE64Shift, Shift: pgarrow.EpochMicros}
	case pgarrow.KindDate:
		return batch.WireColumn{Kind: batch.WireBE32Shift, Shift: pgarrow.EpochDays}
	}
	if d := fastDecoder(c, t); d != nil {
		return batch.WireColumn{Decode: d}
	}
	var dec pgarrow.Decoder
	return batch.WireColumn{Decode: func(src []byte) error { return dec.Decode(t, w, src) }}
}

// fastDecoder returns a decoder of binary values of type t straight into
// column c through the builder's big-endian fast paths, or nil when t has
// no fast path (the generic pgarrow.Decoder is used then). A nil value
// appends a null.
func fastDecoder(c batch.Column, t *pgarrow.Type) func(src []byte) error {
	null := c.AppendNull
	switch t.Kind {
	case pgarrow.KindInt64:
		a := c.Int64()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			return a.AppendBigEndian8(src)
		}
	case pgarrow.KindInt32:
		a := c.Int32()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			return a.AppendBigEndian4(src)
		}
	case pgarrow.KindInt16:
		a := c.Int16()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			return a.AppendBigEndian2(src)
		}
	case pgarrow.KindFloat64:
		a := c.Float64()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			return a.AppendBigEndian8(src)
		}
	case pgarrow.KindFloat32:
		a := c.Float32()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			return a.AppendBigEndian4(src)
		}
	case pgarrow.KindText, pgarrow.KindBytes:
		a := c.Bytes()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			a.AppendBytes(src)
			return nil
		}
	case pgarrow.KindBool:
		a := c.Bool()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			if len(src) != 1 {
				return batch.ErrValueLength
			}
			a.Append(src[0] != 0)
			return nil
		}
	case pgarrow.KindTimestamp, pgarrow.KindTimestampTZ:
		a := c.Int64()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			if len(src) != 8 {
				return batch.ErrValueLength
			}
			v, err := pgarrow.TimestampToArrow(int64(binary.BigEndian.Uint64(src)))
			if err != nil {
				return err
			}
			a.Append(v)
			return nil
		}
	case pgarrow.KindDate:
		a := c.Int32()
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			if len(src) != 4 {
				return batch.ErrValueLength
			}
			v := int32(binary.BigEndian.Uint32(src))
			if v != math.MaxInt32 && v != math.MinInt32 {
				v += pgarrow.EpochDays
			}
			a.Append(v)
			return nil
		}
	case pgarrow.KindDecimal128:
		a := c.Decimal128()
		scale := t.Scale
		return func(src []byte) error {
			if src == nil {
				null()
				return nil
			}
			lo, hi, err := pgarrow.NumericToDecimal128(src, scale)
			if err != nil {
				return err
			}
			a.Append(lo, int64(hi))
			return nil
		}
	}
	return nil
}
