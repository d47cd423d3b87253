package abi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is the physical kind of an Arrow type in the ABI type grammar.
type Kind uint8

// The kinds of the type grammar. KindInvalid is the zero value.
const (
	KindInvalid Kind = iota
	KindBool
	KindInt8
	KindInt16
	KindInt32
	KindInt64
	KindUint8
	KindUint16
	KindUint32
	KindUint64
	KindFloat32
	KindFloat64
	KindUtf8
	KindBinary
	KindDate32
	KindTime32
	KindTime64
	KindTimestamp
	KindDecimal128
	KindDecimal256
	KindIntervalMDN
	KindList
)

var kindNames = [...]string{
	KindInvalid:     "invalid",
	KindBool:        "bool",
	KindInt8:        "int8",
	KindInt16:       "int16",
	KindInt32:       "int32",
	KindInt64:       "int64",
	KindUint8:       "uint8",
	KindUint16:      "uint16",
	KindUint32:      "uint32",
	KindUint64:      "uint64",
	KindFloat32:     "float32",
	KindFloat64:     "float64",
	KindUtf8:        "utf8",
	KindBinary:      "binary",
	KindDate32:      "date32",
	KindTime32:      "time32",
	KindTime64:      "time64",
	KindTimestamp:   "timestamp",
	KindDecimal128:  "decimal128",
	KindDecimal256:  "decimal256",
	KindIntervalMDN: "interval_mdn",
	KindList:        "list",
}

// String returns the grammar name of the kind ("int64", "timestamp", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Layout describes the Arrow buffers of one node of a kind, in IPC body
// order: validity bitmap first, then offsets (when Offsets), then values
// (when Values). A list node has no values buffer; its child follows it.
type Layout struct {
	// Buffers is the number of buffers of this node (not counting children).
	Buffers int
	// Width is the byte width of one value for fixed-width kinds; 0 for
	// bool (bit-packed values), utf8, binary and list.
	Width int
	// BitPacked reports that values are a bitmap (bool).
	BitPacked bool
	// Offsets reports an int32 offsets buffer of rows+1 entries (utf8,
	// binary, list).
	Offsets bool
	// Values reports a values buffer (all kinds but list).
	Values bool
	// Child reports one child node that follows this node (list).
	Child bool
}

// Layout returns the buffer layout of kind k. The zero Layout is returned
// for KindInvalid.
func (k Kind) Layout() Layout {
	switch k {
	case KindBool:
		return Layout{Buffers: 2, BitPacked: true, Values: true}
	case KindInt8, KindUint8:
		return Layout{Buffers: 2, Width: 1, Values: true}
	case KindInt16, KindUint16:
		return Layout{Buffers: 2, Width: 2, Values: true}
	case KindInt32, KindUint32, KindFloat32, KindDate32, KindTime32:
		return Layout{Buffers: 2, Width: 4, Values: true}
	case KindInt64, KindUint64, KindFloat64, KindTime64, KindTimestamp:
		return Layout{Buffers: 2, Width: 8, Values: true}
	case KindDecimal128, KindIntervalMDN:
		return Layout{Buffers: 2, Width: 16, Values: true}
	case KindDecimal256:
		return Layout{Buffers: 2, Width: 32, Values: true}
	case KindUtf8, KindBinary:
		return Layout{Buffers: 3, Offsets: true, Values: true}
	case KindList:
		return Layout{Buffers: 2, Offsets: true, Child: true}
	default:
		return Layout{}
	}
}

// Time units of time32, time64 and timestamp.
const (
	UnitSecond = "s"
	UnitMilli  = "ms"
	UnitMicro  = "us"
	UnitNano   = "ns"
)

// Type is a parsed Arrow type of the ABI grammar. The zero Type is invalid.
type Type struct {
	// Kind is the physical kind.
	Kind Kind
	// Precision and Scale are set for decimal128 and decimal256.
	Precision, Scale int32
	// Unit is the time unit of time32, time64 and timestamp: "s", "ms",
	// "us" or "ns".
	Unit string
	// TZ is the time zone of a timestamp ("" = naive, "UTC", ...).
	TZ string
	// Elem is the element type of a list.
	Elem *Type
}

// ErrBadType is wrapped by every ParseType failure.
var ErrBadType = errors.New("bad arrow type")

// ParseType parses the ABI type grammar:
//
//	bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64
//	utf8 binary date32 interval_mdn
//	time32[s|ms] time64[us|ns] timestamp[UNIT] timestamp[UNIT, TZ]
//	decimal128(P, S) decimal256(P, S) list<T>
//
// Spaces around punctuation are ignored. "string" is accepted for utf8.
func ParseType(s string) (Type, error) {
	t, rest, err := parseType(strings.TrimSpace(s), 0)
	if err != nil {
		return Type{}, fmt.Errorf("%w %q: %v", ErrBadType, s, err)
	}
	if strings.TrimSpace(rest) != "" {
		return Type{}, fmt.Errorf("%w %q: trailing %q", ErrBadType, s, rest)
	}
	return t, nil
}

// MustParseType is ParseType for constant type strings; it panics on error
// and is meant for package-level variables and tests.
func MustParseType(s string) Type {
	t, err := ParseType(s)
	if err != nil {
		panic(err)
	}
	return t
}

const maxTypeDepth = 16

func parseType(s string, depth int) (Type, string, error) {
	if depth > maxTypeDepth {
		return Type{}, "", errors.New("nesting too deep")
	}
	s = strings.TrimLeft(s, " ")
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	name, rest := s[:i], strings.TrimLeft(s[i:], " ")
	switch name {
	case "bool", "boolean":
		return Type{Kind: KindBool}, rest, nil
	case "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
		"utf8", "binary", "date32", "interval_mdn":
		for k, n := range kindNames {
			if n == name {
				return Type{Kind: Kind(k)}, rest, nil
			}
		}
	case "string":
		return Type{Kind: KindUtf8}, rest, nil
	case "time32", "time64", "timestamp":
		args, rest, err := bracket(rest, '[', ']')
		if err != nil {
			return Type{}, "", err
		}
		t := Type{Unit: strings.TrimSpace(args[0])}
		switch name {
		case "time32":
			t.Kind = KindTime32
			if t.Unit != UnitSecond && t.Unit != UnitMilli {
				return Type{}, "", fmt.Errorf("time32 unit %q (want s or ms)", t.Unit)
			}
		case "time64":
			t.Kind = KindTime64
			if t.Unit != UnitMicro && t.Unit != UnitNano {
				return Type{}, "", fmt.Errorf("time64 unit %q (want us or ns)", t.Unit)
			}
		default:
			t.Kind = KindTimestamp
			if !validUnit(t.Unit) {
				return Type{}, "", fmt.Errorf("timestamp unit %q", t.Unit)
			}
		}
		switch {
		case len(args) == 2 && name == "timestamp":
			t.TZ = strings.TrimSpace(args[1])
			if t.TZ == "" {
				return Type{}, "", errors.New("empty time zone")
			}
		case len(args) != 1:
			return Type{}, "", fmt.Errorf("%s takes %s arguments", name, map[bool]string{true: "1 or 2", false: "1"}[name == "timestamp"])
		}
		return t, rest, nil
	case "decimal128", "decimal256":
		args, rest, err := bracket(rest, '(', ')')
		if err != nil {
			return Type{}, "", err
		}
		if len(args) != 2 {
			return Type{}, "", fmt.Errorf("%s takes (precision, scale)", name)
		}
		p, err1 := strconv.ParseInt(strings.TrimSpace(args[0]), 10, 32)
		sc, err2 := strconv.ParseInt(strings.TrimSpace(args[1]), 10, 32)
		if err1 != nil || err2 != nil {
			return Type{}, "", fmt.Errorf("%s precision/scale must be integers", name)
		}
		t := Type{Kind: KindDecimal128, Precision: int32(p), Scale: int32(sc)}
		maxP := int64(38)
		if name == "decimal256" {
			t.Kind, maxP = KindDecimal256, 76
		}
		if p < 1 || p > maxP || sc < 0 || sc > p {
			return Type{}, "", fmt.Errorf("%s(%d, %d) out of range (1 <= precision <= %d, 0 <= scale <= precision)", name, p, sc, maxP)
		}
		return t, rest, nil
	case "list":
		if !strings.HasPrefix(rest, "<") {
			return Type{}, "", errors.New("list needs <T>")
		}
		elem, rest, err := parseType(rest[1:], depth+1)
		if err != nil {
			return Type{}, "", err
		}
		rest = strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(rest, ">") {
			return Type{}, "", errors.New("list: missing >")
		}
		return Type{Kind: KindList, Elem: &elem}, rest[1:], nil
	}
	if name == "" {
		return Type{}, "", errors.New("missing type name")
	}
	return Type{}, "", fmt.Errorf("unknown type %q", name)
}

func validUnit(u string) bool {
	return u == UnitSecond || u == UnitMilli || u == UnitMicro || u == UnitNano
}

// bracket splits "<open>a, b<close>rest" into its comma-separated arguments.
func bracket(s string, open, closer byte) ([]string, string, error) {
	if s == "" || s[0] != open {
		return nil, "", fmt.Errorf("expected %q", open)
	}
	end := strings.IndexByte(s, closer)
	if end < 0 {
		return nil, "", fmt.Errorf("missing %q", closer)
	}
	return strings.Split(s[1:end], ","), s[end+1:], nil
}

// String formats t in the canonical grammar accepted by ParseType, for
// example "timestamp[us, UTC]", "decimal128(12, 2)", "list<int32>".
func (t Type) String() string {
	switch t.Kind {
	case KindTime32, KindTime64:
		return t.Kind.String() + "[" + t.Unit + "]"
	case KindTimestamp:
		if t.TZ != "" {
			return "timestamp[" + t.Unit + ", " + t.TZ + "]"
		}
		return "timestamp[" + t.Unit + "]"
	case KindDecimal128, KindDecimal256:
		return fmt.Sprintf("%s(%d, %d)", t.Kind, t.Precision, t.Scale)
	case KindList:
		if t.Elem == nil {
			return "list<invalid>"
		}
		return "list<" + t.Elem.String() + ">"
	default:
		return t.Kind.String()
	}
}

// Equal reports whether t and u denote the same type.
func (t Type) Equal(u Type) bool {
	if t.Kind != u.Kind || t.Precision != u.Precision || t.Scale != u.Scale || t.Unit != u.Unit || t.TZ != u.TZ {
		return false
	}
	if t.Elem == nil || u.Elem == nil {
		return t.Elem == u.Elem
	}
	return t.Elem.Equal(*u.Elem)
}

// Nodes returns the number of field nodes t contributes to a batch: 1, plus
// its child's nodes for a list.
func (t Type) Nodes() int {
	if t.Kind == KindList && t.Elem != nil {
		return 1 + t.Elem.Nodes()
	}
	return 1
}

// BufferCount returns the number of buffers t contributes to a batch,
// including its children's.
func (t Type) BufferCount() int {
	n := t.Kind.Layout().Buffers
	if t.Kind == KindList && t.Elem != nil {
		n += t.Elem.BufferCount()
	}
	return n
}

// ParseFields parses the Type of every field, naming the field on error.
func ParseFields(fields []Field) ([]Type, error) {
	out := make([]Type, len(fields))
	for i, f := range fields {
		t, err := ParseType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %d %q: %w", i, f.Name, err)
		}
		out[i] = t
	}
	return out, nil
}

// SchemaShape returns the total node and buffer counts of a schema.
func SchemaShape(types []Type) (nodes, buffers int) {
	for _, t := range types {
		nodes += t.Nodes()
		buffers += t.BufferCount()
	}
	return nodes, buffers
}
