// Package cdc reads PostgreSQL change data capture streams: a logical
// replication slot with the pgoutput plugin, an initial snapshot taken in
// the slot's own snapshot, and a fixed change-envelope batch schema that
// carries the changes of every table of a pipeline in commit order, so the
// destination can apply a source transaction atomically.
package cdc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// StreamName is the name of a pipeline's change stream: every cdc stream
// of a pipeline travels in it, so one slot and one publication serve them
// and a multi-table source transaction reaches the destination as a whole.
const StreamName = "_cdc"

// CursorField names the LSN cursor of a change stream's checkpoints.
const CursorField = "lsn"

// Ops of the envelope's op column.
const (
	OpSchema   = "s" // tuple is a TableSchema (JSON); sent before a table's first change of a read
	OpSnapshot = "r" // a row of the initial snapshot
	OpInsert   = "i"
	OpUpdate   = "u" // tuple is the new row
	OpRekey    = "k" // tuple holds the old key of the OpUpdate that follows (a key change)
	OpDelete   = "d" // tuple holds the key columns (others null)
	OpTruncate = "t" // tuple is empty
)

// Envelope column indexes.
const (
	ColTable = iota
	ColOp
	ColLSN
	ColTuple
)

// Fields is the fixed schema of a change stream: the qualified source
// table, the op, the position (the commit LSN of the row's transaction; the
// snapshot's consistent point for snapshot rows) and the row values as an
// encoded Tuple.
var Fields = []abi.Field{
	{Name: "_rb_table", Type: "utf8"},
	{Name: "_rb_op", Type: "utf8"},
	{Name: "_rb_lsn", Type: "int64"},
	{Name: "_rb_tuple", Type: "binary", Nullable: true},
}

// Value kinds in an encoded tuple (pgoutput's TupleData kinds).
const (
	KindNull      = 'n'
	KindUnchanged = 'u' // an unchanged TOASTed value: keep the destination's value
	KindText      = 't'
)

// Value is one column value of a tuple.
type Value struct {
	Kind byte
	Data []byte // the text form, for KindText
}

// AppendTuple encodes vals in pgoutput's TupleData layout (uint16 count,
// then per value its kind and, for text, a uint32 length and the bytes).
func AppendTuple(dst []byte, vals []Value) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(vals)))
	for _, v := range vals {
		dst = append(dst, v.Kind)
		if v.Kind == KindText {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v.Data)))
			dst = append(dst, v.Data...)
		}
	}
	return dst
}

// ErrBadTuple reports an encoded tuple that does not parse.
var ErrBadTuple = errors.New("bad change tuple")

// DecodeTuple decodes an encoded tuple into vals (reused); the values
// alias src.
func DecodeTuple(src []byte, vals []Value) ([]Value, error) {
	vals, _, err := decodeTuple(src, vals)
	return vals, err
}

// decodeTuple is DecodeTuple that also returns the tuple's length in src.
func decodeTuple(src []byte, vals []Value) ([]Value, int, error) {
	vals = vals[:0]
	if len(src) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrBadTuple, len(src))
	}
	n := int(binary.BigEndian.Uint16(src))
	p := 2
	for i := 0; i < n; i++ {
		if p >= len(src) {
			return nil, 0, fmt.Errorf("%w: truncated at value %d", ErrBadTuple, i)
		}
		v := Value{Kind: src[p]}
		p++
		switch v.Kind {
		case KindNull, KindUnchanged:
		case KindText, 'b':
			if p+4 > len(src) {
				return nil, 0, fmt.Errorf("%w: truncated length at value %d", ErrBadTuple, i)
			}
			l := int(binary.BigEndian.Uint32(src[p:]))
			p += 4
			if l < 0 || p+l > len(src) {
				return nil, 0, fmt.Errorf("%w: value %d overruns the tuple", ErrBadTuple, i)
			}
			v.Kind, v.Data = KindText, src[p:p+l]
			p += l
		default:
			return nil, 0, fmt.Errorf("%w: value %d has kind %q", ErrBadTuple, i, v.Kind)
		}
		vals = append(vals, v)
	}
	return vals, p, nil
}

// Column is one column of a TableSchema.
type Column struct {
	Name string `json:"name"`
	// Type is the PostgreSQL type as format_type prints it.
	Type string `json:"type"`
}

// TableSchema is the payload of an OpSchema row.
type TableSchema struct {
	Columns []Column `json:"columns"`
	// Key lists the primary key (or replica identity) columns; empty when
	// the table has none.
	Key []string `json:"key,omitempty"`
	// Truncate asks the destination to empty the table first: the rows of
	// a fresh snapshot follow.
	Truncate bool `json:"truncate,omitempty"`
}

// EncodeSchema encodes s as an OpSchema tuple.
func EncodeSchema(s TableSchema) ([]byte, error) { return json.Marshal(s) }

// DecodeSchema decodes an OpSchema tuple.
func DecodeSchema(b []byte) (TableSchema, error) {
	var s TableSchema
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode table schema: %w", err)
	}
	return s, nil
}
