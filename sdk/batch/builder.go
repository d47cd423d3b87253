package batch

import (
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Builder fills the Arrow column buffers of one batch. Buffers are
// allocated once for maxRows rows and reused after Reset; a column grows
// (slower) only when more values are appended than planned, for example list
// children or long strings.
//
// Usage: append exactly one value (or null) per top-level column per row,
// through the typed appenders (b.Int64(i).Append(v), b.Utf8(j).AppendString(s),
// ...); check Full after each row; hand the builder to the SDK's Emit, which
// reads Layout and then calls Reset.
//
// Appenders are small values bound to their column: get them once per
// batch (or once per builder: they stay valid across Reset) and reuse them
// in the row loop. A Builder is not safe for concurrent use. The typed
// appender accessors panic when the column's kind does not match, which is
// a programming error.
type Builder struct {
	schema   *Schema
	maxRows  int
	maxBytes int
	cols     []*col // top-level columns
	flat     []*col // every node, depth-first (IPC order)
	nodes    []Node
	bufs     [][]byte

	// The size bound Full checks per row without walking every column
	// (see estimate); sized is false when the schema has lists.
	sized         bool
	fixedRowBytes int    // per row: fixed widths plus 4 per offsets buffer
	bitmaps       int    // validity and bit-packed buffers
	constBytes    int    // the extra offset of each offsets buffer
	varCols       []*col // utf8 and binary columns

	wireLocs []uint64 // AppendWireRows' field locations (see wireLoc), reused
}

// col is one node's buffers.
type col struct {
	typ      abi.Type
	layout   abi.Layout
	length   int
	nulls    int
	validity []byte // bitmap, len = capacity in bytes; only kept once nulls > 0 (see appendNull)
	offsets  []byte // int32 LE, len = capacity (rows+1)*4
	values   []byte // fixed: capacity*width bytes; bool: bitmap; var: data with len = used
	child    *col
}

// NewBuilder returns a builder for schema with buffers for maxRows rows. A
// batch is Full at maxRows rows or once its buffers hold maxBytes bytes.
// maxRows <= 0 means abi.DefaultMaxBatchRows, maxBytes <= 0 means
// abi.DefaultMaxBatchBytes.
func NewBuilder(schema *Schema, maxRows, maxBytes int) (*Builder, error) {
	if schema == nil || len(schema.Types) == 0 {
		return nil, fmt.Errorf("%w: builder needs a schema", ErrInvalid)
	}
	if maxRows <= 0 {
		maxRows = abi.DefaultMaxBatchRows
	}
	if maxBytes <= 0 {
		maxBytes = abi.DefaultMaxBatchBytes
	}
	b := &Builder{schema: schema, maxRows: maxRows, maxBytes: maxBytes}
	for _, t := range schema.Types {
		b.cols = append(b.cols, b.newCol(t, maxRows))
	}
	b.nodes = make([]Node, 0, schema.NodeCount)
	b.bufs = make([][]byte, 0, schema.BufferCount)
	b.sized = len(b.flat) == len(b.cols)
	for _, c := range b.cols {
		b.bitmaps++
		switch {
		case c.layout.BitPacked:
			b.bitmaps++
		case c.layout.Width > 0:
			b.fixedRowBytes += c.layout.Width
		}
		if c.layout.Offsets {
			b.fixedRowBytes += 4
			b.constBytes += 4
			b.varCols = append(b.varCols, c)
		}
	}
	return b, nil
}

func (b *Builder) newCol(t abi.Type, rows int) *col {
	c := &col{typ: t, layout: t.Kind.Layout()}
	b.flat = append(b.flat, c)
	c.validity = make([]byte, rows/8+1)
	if c.layout.Offsets {
		c.offsets = make([]byte, (rows+1)*4)
	}
	switch {
	case c.layout.BitPacked:
		c.values = make([]byte, rows/8+1)
	case c.layout.Width > 0:
		c.values = make([]byte, rows*c.layout.Width)
	case c.layout.Values: // utf8, binary: guess 16 bytes a value
		c.values = make([]byte, 0, rows*16)
	}
	if t.Kind == abi.KindList && t.Elem != nil {
		c.child = b.newCol(*t.Elem, rows)
	}
	return c
}

// Schema returns the builder's schema.
func (b *Builder) Schema() *Schema { return b.schema }

// MaxRows returns the row capacity a batch is Full at.
func (b *Builder) MaxRows() int { return b.maxRows }

// Rows returns the number of rows appended since the last Reset: the
// length of the first column.
func (b *Builder) Rows() int { return b.cols[0].length }

// Full reports whether the batch reached maxRows rows or maxBytes bytes.
// It is called after every row, so it first compares a cheap upper bound
// of ByteSize, and walks the columns only when that bound is reached.
func (b *Builder) Full() bool {
	rows := b.cols[0].length
	if rows >= b.maxRows {
		return true
	}
	if b.sized && b.estimate(rows) < b.maxBytes {
		return false
	}
	return b.ByteSize() >= b.maxBytes
}

// estimate is an upper bound of ByteSize for a batch of rows rows with no
// list columns: each bitmap is counted as if it had nulls.
func (b *Builder) estimate(rows int) int {
	n := rows*b.fixedRowBytes + (rows/8+1)*b.bitmaps + b.constBytes
	for _, c := range b.varCols {
		n += len(c.values)
	}
	return n
}

// ByteSize returns the number of buffer bytes the batch holds now.
func (b *Builder) ByteSize() int {
	n := 0
	for _, c := range b.flat {
		n += c.usedValues()
		if c.nulls > 0 {
			n += (c.length + 7) / 8
		}
		if c.layout.Offsets && c.length > 0 {
			n += (c.length + 1) * 4
		}
	}
	return n
}

func (c *col) usedValues() int {
	switch {
	case c.layout.BitPacked:
		return (c.length + 7) / 8
	case c.layout.Width > 0:
		return c.length * c.layout.Width
	case c.layout.Values:
		return len(c.values)
	}
	return 0
}

// Reset empties the batch, keeping its buffers; it clears only the bitmap
// bytes that were used.
func (b *Builder) Reset() {
	for _, c := range b.flat {
		n := (c.length + 7) / 8
		clear(c.validity[:min(n, len(c.validity))])
		if c.layout.BitPacked {
			clear(c.values[:min(n, len(c.values))])
		}
		if c.layout.Values && c.layout.Offsets {
			c.values = c.values[:0]
		}
		c.length, c.nulls = 0, 0
	}
}

// Layout checks that every top-level column has the same length and calls
// fn with the row count, the field nodes and the buffers in IPC body order
// (see package abi). The slices alias the builder's buffers and are valid
// only during fn; a validity buffer is empty when its node has no nulls.
func (b *Builder) Layout(fn func(rows int, nodes []Node, bufs [][]byte)) error {
	rows := b.cols[0].length
	for i, c := range b.cols {
		if c.length != rows {
			return fmt.Errorf("%w: column %d %q has %d values, column 0 has %d",
				ErrInvalid, i, b.schema.Fields[i].Name, c.length, rows)
		}
	}
	nodes, bufs := b.nodes[:0], b.bufs[:0]
	for _, c := range b.flat {
		nodes = append(nodes, Node{Length: c.length, NullCount: c.nulls})
		if c.nulls > 0 {
			bufs = append(bufs, c.validity[:(c.length+7)/8])
		} else {
			bufs = append(bufs, nil)
		}
		if c.layout.Offsets {
			bufs = append(bufs, c.offsets[:(c.length+1)*4])
		}
		if c.layout.Values {
			bufs = append(bufs, c.values[:c.usedValues()])
		}
	}
	b.nodes, b.bufs = nodes, bufs
	fn(rows, nodes, bufs)
	return nil
}

// grow makes room for one more value at index c.length.
func (c *col) grow() {
	n := c.length + 1
	if n/8+1 > len(c.validity) {
		c.validity = append(c.validity, make([]byte, len(c.validity)+1)...)
	}
	if c.layout.Offsets && (n+1)*4 > len(c.offsets) {
		c.offsets = append(c.offsets, make([]byte, len(c.offsets)+4)...)
	}
	switch {
	case c.layout.BitPacked:
		if n/8+1 > len(c.values) {
			c.values = append(c.values, make([]byte, len(c.values)+1)...)
		}
	case c.layout.Width > 0:
		if n*c.layout.Width > len(c.values) {
			c.values = append(c.values, make([]byte, len(c.values)+c.layout.Width)...)
		}
	}
}

// setValid marks index i valid and advances the length.
func (c *col) setValid(i int) {
	c.validity[i>>3] |= 1 << (uint(i) & 7)
	c.length = i + 1
}

// appendNull adds a null at the end; fixed-width slots keep stale bytes,
// which Arrow allows, and offsets repeat the previous one.
//
// A column's validity bits matter only once it has a null (Layout leaves
// the bitmap out before), so AppendWireRows does not set them for a column
// without nulls, the common case; the first null sets those of the values
// before it.
func (c *col) appendNull() {
	i := c.length
	if i >= len(c.validity)*8-8 || c.layout.Offsets && (i+2)*4 > len(c.offsets) ||
		c.layout.Width > 0 && (i+1)*c.layout.Width > len(c.values) || c.layout.BitPacked && i/8 >= len(c.values) {
		c.grow()
	}
	if c.layout.Offsets {
		putU32(c.offsets, (i+1)*4, getU32(c.offsets, i*4))
	}
	if c.nulls == 0 {
		setBits(c.validity, 0, i)
	}
	c.nulls++
	c.length = i + 1
}

// Column is a handle on one column (or list child) of a Builder; its
// typed accessors return the appender of the column's kind.
type Column struct{ c *col }

// Column returns the handle of top-level column i.
func (b *Builder) Column(i int) Column { return Column{b.cols[i]} }

// Type returns the column's type.
func (c Column) Type() abi.Type { return c.c.typ }

// Len returns the number of values appended since the last Reset.
func (c Column) Len() int { return c.c.length }

// AppendNull appends a null of any kind.
func (c Column) AppendNull() { c.c.appendNull() }

func (c Column) want(accessor string, kinds ...abi.Kind) *col {
	for _, k := range kinds {
		if c.c.typ.Kind == k {
			return c.c
		}
	}
	panic(fmt.Sprintf("batch: %s appender on a %s column", accessor, c.c.typ))
}
