// Package pgarrow maps PostgreSQL types to Arrow types and converts values
// between PostgreSQL's binary wire format and Arrow column buffers.
//
// The source side decodes binary result columns straight into column
// writers (Writer); the destination side encodes column readers (Reader)
// into PostgreSQL binary COPY rows. Both sides agree on one Type per column,
// which carries the Arrow type string (grammar of sdk/abi) and the
// PostgreSQL source type text.
package pgarrow

import (
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Kind is the value representation of a column.
type Kind uint8

// The kinds. Each maps to exactly one Arrow type family.
const (
	KindInvalid     Kind = iota
	KindBool             // bool
	KindInt16            // int16
	KindInt32            // int32
	KindInt64            // int64
	KindFloat32          // float32
	KindFloat64          // float64
	KindDecimal128       // decimal128(p, s)
	KindDecimal256       // decimal256(p, s)
	KindNumericText      // utf8 holding an exact numeric text (unconstrained numeric)
	KindText             // utf8 (text, varchar, char, name, enum, json, fallback text)
	KindJSONB            // utf8; binary jsonb has a version byte
	KindUUID             // utf8 canonical form; binary uuid is 16 bytes
	KindInet             // utf8 text form of inet / cidr
	KindMacaddr          // utf8 text form of macaddr / macaddr8
	KindBytes            // binary
	KindDate             // date32
	KindTime             // time64[us]
	KindTimestamp        // timestamp[us]
	KindTimestampTZ      // timestamp[us, UTC]
	KindInterval         // interval_mdn
	KindList             // list<elem>
)

// Type describes one column for both conversion directions.
type Type struct {
	// Kind is the value representation.
	Kind Kind
	// Precision and Scale are set for decimals.
	Precision, Scale int
	// Cidr marks a cidr (as opposed to inet) column; Mac8 a macaddr8 column.
	Cidr, Mac8 bool
	// Elem is the element type of a list.
	Elem *Type
	// OID is the PostgreSQL type oid (of the base type for domains), 0 when unknown.
	OID uint32
	// Cast is true when the column must be selected as text (col::text)
	// because its PostgreSQL type has no binary decoder here.
	Cast bool
}

// Well-known PostgreSQL type oids.
const (
	OIDBool        = 16
	OIDBytea       = 17
	OIDChar        = 18
	OIDName        = 19
	OIDInt8        = 20
	OIDInt2        = 21
	OIDInt4        = 23
	OIDText        = 25
	OIDJSON        = 114
	OIDCidr        = 650
	OIDFloat4      = 700
	OIDFloat8      = 701
	OIDMacaddr8    = 774
	OIDMacaddr     = 829
	OIDInet        = 869
	OIDBPChar      = 1042
	OIDVarchar     = 1043
	OIDDate        = 1082
	OIDTime        = 1083
	OIDTimestamp   = 1114
	OIDTimestampTZ = 1184
	OIDInterval    = 1186
	OIDNumeric     = 1700
	OIDUUID        = 2950
	OIDJSONB       = 3802
)

// PGType is what the catalog says about a column's type.
type PGType struct {
	// OID is the type oid, after resolving domains to their base type.
	OID uint32
	// Typmod is the type modifier (-1 when none).
	Typmod int32
	// IsEnum is true for enum types.
	IsEnum bool
	// Elem describes the element type of an array type, nil otherwise.
	Elem *PGType
}

// FromPG returns the Type of a PostgreSQL column. Types without a binary
// decoder here are read as text (Cast set, Kind KindText), so every column
// can be read.
func FromPG(t PGType) Type {
	if t.Elem != nil {
		elem := FromPG(PGType{OID: t.Elem.OID, Typmod: t.Typmod, IsEnum: t.Elem.IsEnum})
		if elem.Cast || elem.Kind == KindList {
			return Type{Kind: KindText, Cast: true, OID: t.OID}
		}
		return Type{Kind: KindList, Elem: &elem, OID: t.OID}
	}
	if t.IsEnum {
		return Type{Kind: KindText, OID: t.OID}
	}
	k := Type{OID: t.OID}
	switch t.OID {
	case OIDBool:
		k.Kind = KindBool
	case OIDBytea:
		k.Kind = KindBytes
	case OIDChar, OIDName, OIDText, OIDBPChar, OIDVarchar, OIDJSON:
		k.Kind = KindText
	case OIDInt2:
		k.Kind = KindInt16
	case OIDInt4:
		k.Kind = KindInt32
	case OIDInt8:
		k.Kind = KindInt64
	case OIDFloat4:
		k.Kind = KindFloat32
	case OIDFloat8:
		k.Kind = KindFloat64
	case OIDNumeric:
		p, s, ok := numericTypmod(t.Typmod)
		switch {
		case !ok || s < 0 || s > p:
			k.Kind = KindNumericText
		case p <= 38:
			k.Kind, k.Precision, k.Scale = KindDecimal128, p, s
		case p <= 76:
			k.Kind, k.Precision, k.Scale = KindDecimal256, p, s
		default:
			k.Kind = KindNumericText
		}
	case OIDJSONB:
		k.Kind = KindJSONB
	case OIDUUID:
		k.Kind = KindUUID
	case OIDInet:
		k.Kind = KindInet
	case OIDCidr:
		k.Kind, k.Cidr = KindInet, true
	case OIDMacaddr:
		k.Kind = KindMacaddr
	case OIDMacaddr8:
		k.Kind, k.Mac8 = KindMacaddr, true
	case OIDDate:
		k.Kind = KindDate
	case OIDTime:
		k.Kind = KindTime
	case OIDTimestamp:
		k.Kind = KindTimestamp
	case OIDTimestampTZ:
		k.Kind = KindTimestampTZ
	case OIDInterval:
		k.Kind = KindInterval
	default:
		k.Kind, k.Cast = KindText, true
	}
	return k
}

// numericTypmod splits a numeric typmod into precision and scale. The scale
// is an 11-bit signed value (PostgreSQL 15 allows negative scales).
func numericTypmod(typmod int32) (p, s int, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	v := typmod - 4
	p = int(v>>16) & 0xffff
	s = int(((v & 0x7ff) ^ 1024) - 1024)
	return p, s, true
}

// Arrow returns the Arrow type string of t in the sdk/abi grammar.
func (t Type) Arrow() string {
	switch t.Kind {
	case KindBool:
		return "bool"
	case KindInt16:
		return "int16"
	case KindInt32:
		return "int32"
	case KindInt64:
		return "int64"
	case KindFloat32:
		return "float32"
	case KindFloat64:
		return "float64"
	case KindDecimal128:
		return fmt.Sprintf("decimal128(%d, %d)", t.Precision, t.Scale)
	case KindDecimal256:
		return fmt.Sprintf("decimal256(%d, %d)", t.Precision, t.Scale)
	case KindBytes:
		return "binary"
	case KindDate:
		return "date32"
	case KindTime:
		return "time64[us]"
	case KindTimestamp:
		return "timestamp[us]"
	case KindTimestampTZ:
		return "timestamp[us, UTC]"
	case KindInterval:
		return "interval_mdn"
	case KindList:
		return "list<" + t.Elem.Arrow() + ">"
	default:
		return "utf8"
	}
}

// IsCursorCandidate reports whether a column of this type can be an
// incremental cursor (ordered, comparable, typed cursor value).
func (t Type) IsCursorCandidate() bool {
	switch t.Kind {
	case KindInt16, KindInt32, KindInt64, KindDecimal128, KindDecimal256, KindNumericText,
		KindDate, KindTimestamp, KindTimestampTZ:
		return true
	}
	return false
}

// ParseArrow parses an Arrow type string of the sdk/abi grammar into a Type
// without PostgreSQL details (used by destinations when no source type is
// known). Text-like Arrow types all become KindText. Timestamps with a time
// zone are instants (KindTimestampTZ) whatever the zone. Kinds whose values
// this package cannot read (8-bit and unsigned integers, units other than
// microseconds) are rejected.
func ParseArrow(s string) (Type, error) {
	at, err := abi.ParseType(s)
	if err != nil {
		return Type{}, err
	}
	return fromABI(at, s)
}

func fromABI(at abi.Type, s string) (Type, error) {
	switch at.Kind {
	case abi.KindBool:
		return Type{Kind: KindBool}, nil
	case abi.KindInt16:
		return Type{Kind: KindInt16}, nil
	case abi.KindInt32:
		return Type{Kind: KindInt32}, nil
	case abi.KindInt64:
		return Type{Kind: KindInt64}, nil
	case abi.KindFloat32:
		return Type{Kind: KindFloat32}, nil
	case abi.KindFloat64:
		return Type{Kind: KindFloat64}, nil
	case abi.KindUtf8:
		return Type{Kind: KindText}, nil
	case abi.KindBinary:
		return Type{Kind: KindBytes}, nil
	case abi.KindDate32:
		return Type{Kind: KindDate}, nil
	case abi.KindIntervalMDN:
		return Type{Kind: KindInterval}, nil
	case abi.KindTime64:
		if at.Unit == abi.UnitMicro {
			return Type{Kind: KindTime}, nil
		}
	case abi.KindTimestamp:
		if at.Unit == abi.UnitMicro && at.TZ == "" {
			return Type{Kind: KindTimestamp}, nil
		}
		if at.Unit == abi.UnitMicro {
			return Type{Kind: KindTimestampTZ}, nil
		}
	case abi.KindDecimal128:
		return Type{Kind: KindDecimal128, Precision: int(at.Precision), Scale: int(at.Scale)}, nil
	case abi.KindDecimal256:
		return Type{Kind: KindDecimal256, Precision: int(at.Precision), Scale: int(at.Scale)}, nil
	case abi.KindList:
		elem, err := fromABI(*at.Elem, s)
		if err != nil {
			return Type{}, err
		}
		return Type{Kind: KindList, Elem: &elem}, nil
	}
	return Type{}, fmt.Errorf("unsupported arrow type %q", s)
}

// PGName returns the PostgreSQL type to create for a column of type t when
// no usable source type is known.
func (t Type) PGName() string {
	switch t.Kind {
	case KindBool:
		return "boolean"
	case KindInt16:
		return "smallint"
	case KindInt32:
		return "integer"
	case KindInt64:
		return "bigint"
	case KindFloat32:
		return "real"
	case KindFloat64:
		return "double precision"
	case KindDecimal128, KindDecimal256:
		return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale)
	case KindNumericText:
		return "numeric"
	case KindBytes:
		return "bytea"
	case KindDate:
		return "date"
	case KindTime:
		return "time"
	case KindTimestamp:
		return "timestamp"
	case KindTimestampTZ:
		return "timestamptz"
	case KindInterval:
		return "interval"
	case KindJSONB:
		return "jsonb"
	case KindUUID:
		return "uuid"
	case KindInet:
		if t.Cidr {
			return "cidr"
		}
		return "inet"
	case KindMacaddr:
		if t.Mac8 {
			return "macaddr8"
		}
		return "macaddr"
	case KindList:
		return t.Elem.PGName() + "[]"
	default:
		return "text"
	}
}
