// Package batch holds Arrow-layout column buffers shared by the guest SDK
// and the host: Builder (preallocated, reused buffers filled by a source),
// View (zero-copy typed columns over a next_batch frame), the frame and
// emit_batch descriptor encodings, and the validation both sides run on
// untrusted buffers. It is pure Go with no wasm specifics and assumes a
// little-endian machine (wasm, amd64, arm64).
package batch

import (
	"errors"
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrInvalid is wrapped by every validation error of a frame, descriptor or
// buffer set.
var ErrInvalid = errors.New("invalid batch")

// Node is one Arrow field node: the length of a column (or list child) and
// its null count.
type Node struct {
	Length    int
	NullCount int
}

// Schema is a batch schema with its parsed field types.
type Schema struct {
	// Fields are the fields as declared.
	Fields []abi.Field
	// Types are the parsed types of Fields, index for index.
	Types []abi.Type
	// NodeCount and BufferCount are the totals over all fields, children
	// included.
	NodeCount, BufferCount int
}

// NewSchema parses the type of every field. A schema needs at least one field.
func NewSchema(fields []abi.Field) (*Schema, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: schema has no fields", ErrInvalid)
	}
	types, err := abi.ParseFields(fields)
	if err != nil {
		return nil, err
	}
	s := &Schema{Fields: append([]abi.Field(nil), fields...), Types: types}
	s.NodeCount, s.BufferCount = abi.SchemaShape(types)
	return s, nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
