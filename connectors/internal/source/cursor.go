package source

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ctidColumn is the pseudo cursor of keyless tables: the physical row
// position, read in physical order by a TID range scan.
const ctidColumn = "ctid"

// param is one query parameter.
type param struct {
	value  []byte
	oid    uint32
	format int16 // 0 text, 1 binary
}

// cursorValue turns the raw binary value of a key column into a typed
// cursor value. ctid is true for the ctid pseudo column.
func cursorValue(t *pgarrow.Type, raw []byte, ctid bool) (*abi.CursorValue, error) {
	if raw == nil {
		return nil, nil
	}
	if ctid {
		if len(raw) != 6 {
			return nil, fmt.Errorf("ctid: want 6 bytes, got %d", len(raw))
		}
		// Zero-padded so that string order is physical order.
		s := fmt.Sprintf("(%010d,%05d)", binary.BigEndian.Uint32(raw), binary.BigEndian.Uint16(raw[4:]))
		return &abi.CursorValue{String: &s}, nil
	}
	switch t.Kind {
	case pgarrow.KindInt16:
		v := int64(int16(binary.BigEndian.Uint16(raw)))
		return &abi.CursorValue{Int: &v}, nil
	case pgarrow.KindInt32:
		v := int64(int32(binary.BigEndian.Uint32(raw)))
		return &abi.CursorValue{Int: &v}, nil
	case pgarrow.KindInt64:
		v := int64(binary.BigEndian.Uint64(raw))
		return &abi.CursorValue{Int: &v}, nil
	case pgarrow.KindFloat32:
		v := float64(math.Float32frombits(binary.BigEndian.Uint32(raw)))
		return &abi.CursorValue{Double: &v}, nil
	case pgarrow.KindFloat64:
		v := math.Float64frombits(binary.BigEndian.Uint64(raw))
		return &abi.CursorValue{Double: &v}, nil
	case pgarrow.KindTimestamp, pgarrow.KindTimestampTZ:
		v, err := pgarrow.TimestampToArrow(int64(binary.BigEndian.Uint64(raw)))
		if err != nil {
			return nil, err
		}
		return &abi.CursorValue{TimestampMicros: &v}, nil
	case pgarrow.KindDate:
		v := pgarrow.DateToArrow(int32(binary.BigEndian.Uint32(raw)))
		return &abi.CursorValue{DateDays: &v}, nil
	case pgarrow.KindDecimal128, pgarrow.KindDecimal256, pgarrow.KindNumericText:
		b, err := pgarrow.AppendNumericText(nil, raw)
		if err != nil {
			return nil, err
		}
		s := string(b)
		return &abi.CursorValue{Decimal: &s}, nil
	case pgarrow.KindUUID:
		s := string(pgarrow.AppendUUIDText(nil, raw))
		return &abi.CursorValue{String: &s}, nil
	case pgarrow.KindText:
		if t.Cast {
			return nil, fmt.Errorf("column type cannot be a cursor")
		}
		s := string(raw)
		return &abi.CursorValue{String: &s}, nil
	}
	return nil, fmt.Errorf("%s column cannot be a cursor", t.Arrow())
}

// cursorParam turns a stored cursor value into a query parameter for a key
// column of type t. cast is the SQL suffix the placeholder needs
// ("::<source type>" for text parameters, "" for typed binary ones).
func cursorParam(t *pgarrow.Type, sourceType string, cv *abi.CursorValue, ctid bool) (param, string, error) {
	if cv == nil {
		return param{}, "", fmt.Errorf("empty cursor value")
	}
	text := func(s string, cast string) (param, string, error) { return param{value: []byte(s)}, cast, nil }
	if ctid {
		if cv.String == nil {
			return param{}, "", fmt.Errorf("ctid cursor must be a string")
		}
		return text(*cv.String, "::tid")
	}
	cast := "::" + sourceType
	switch t.Kind {
	case pgarrow.KindInt16, pgarrow.KindInt32, pgarrow.KindInt64:
		if cv.Int != nil {
			return text(strconv.FormatInt(*cv.Int, 10), cast)
		}
		if cv.Decimal != nil {
			return text(*cv.Decimal, cast)
		}
	case pgarrow.KindFloat32, pgarrow.KindFloat64:
		if cv.Double != nil {
			return param{value: binary.BigEndian.AppendUint64(nil, math.Float64bits(*cv.Double)), oid: pgarrow.OIDFloat8, format: 1}, "", nil
		}
	case pgarrow.KindTimestamp, pgarrow.KindTimestampTZ:
		if cv.TimestampMicros != nil {
			return param{value: binary.BigEndian.AppendUint64(nil, uint64(pgarrow.TimestampFromArrow(*cv.TimestampMicros))), oid: t.OID, format: 1}, "", nil
		}
	case pgarrow.KindDate:
		if cv.DateDays != nil {
			return param{value: binary.BigEndian.AppendUint32(nil, uint32(pgarrow.DateFromArrow(*cv.DateDays))), oid: pgarrow.OIDDate, format: 1}, "", nil
		}
	case pgarrow.KindDecimal128, pgarrow.KindDecimal256, pgarrow.KindNumericText:
		switch {
		case cv.Decimal != nil:
			return text(*cv.Decimal, cast)
		case cv.Int != nil:
			return text(strconv.FormatInt(*cv.Int, 10), cast)
		}
	case pgarrow.KindText, pgarrow.KindUUID:
		if cv.String != nil {
			return text(*cv.String, cast)
		}
	}
	return param{}, "", fmt.Errorf("cursor value does not match column type %s", sourceType)
}
