package batch

import (
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// View is a zero-copy, validated view of one batch: typed column views over
// the buffers of a frame. It is valid as long as the frame's memory is not
// reused (in the SDK: until the next BatchIterator.Next).
type View struct {
	schema *Schema
	rows   int
	cols   []ColumnView
	flat   []ColumnView
	meta   []byte
	nodes  []Node
	bufs   [][]byte
}

// NewView returns an empty view for schema; fill it with Parse or Set.
func NewView(schema *Schema) *View {
	return &View{schema: schema}
}

// ParseView parses and validates one frame into a new View.
func ParseView(schema *Schema, frame []byte) (*View, error) {
	v := NewView(schema)
	if err := v.Parse(frame); err != nil {
		return nil, err
	}
	return v, nil
}

// Parse replaces the view's contents with the frame, after ParseFrame and
// Validate. On error the view is empty.
func (v *View) Parse(frame []byte) error {
	rows, nodes, bufs, meta, err := ParseFrame(frame, v.schema, v.nodes, v.bufs)
	if err != nil {
		v.reset()
		return err
	}
	v.nodes, v.bufs = nodes, bufs
	if err := v.Set(rows, nodes, bufs); err != nil {
		return err
	}
	v.meta = meta
	return nil
}

// Set validates rows, nodes and bufs and points the view at them (no copy).
func (v *View) Set(rows int, nodes []Node, bufs [][]byte) error {
	if err := Validate(v.schema, rows, nodes, bufs); err != nil {
		v.reset()
		return err
	}
	if cap(v.flat) < len(nodes) {
		v.flat = make([]ColumnView, len(nodes))
	}
	v.flat = v.flat[:len(nodes)]
	v.cols = v.cols[:0]
	ni, bi := 0, 0
	for _, t := range v.schema.Types {
		v.cols = append(v.cols, *v.fill(t, nodes, bufs, &ni, &bi))
	}
	// Copies, so that a later Parse, which reuses them, leaves the
	// caller's slices alone.
	v.rows, v.meta = rows, nil
	v.nodes, v.bufs = append(v.nodes[:0], nodes...), append(v.bufs[:0], bufs...)
	return nil
}

func (v *View) fill(t abi.Type, nodes []Node, bufs [][]byte, ni, bi *int) *ColumnView {
	c := &v.flat[*ni]
	lay := t.Kind.Layout()
	*c = ColumnView{typ: t, length: nodes[*ni].Length, nulls: nodes[*ni].NullCount, width: lay.Width}
	*ni++
	if c.nulls > 0 {
		c.validity = bufs[*bi]
	}
	*bi++
	if lay.Offsets {
		c.offsets = bufs[*bi]
		*bi++
	}
	if lay.Values {
		c.values = bufs[*bi]
		*bi++
	}
	if lay.Child {
		c.child = v.fill(*t.Elem, nodes, bufs, ni, bi)
	}
	return c
}

func (v *View) reset() {
	v.rows, v.cols, v.meta, v.nodes, v.bufs = 0, v.cols[:0], nil, v.nodes[:0], v.bufs[:0]
}

// Schema returns the view's schema.
func (v *View) Schema() *Schema { return v.schema }

// Rows returns the number of rows.
func (v *View) Rows() int { return v.rows }

// NumColumns returns the number of top-level columns (0 for an empty view).
func (v *View) NumColumns() int { return len(v.cols) }

// Column returns top-level column i.
func (v *View) Column(i int) *ColumnView { return &v.cols[i] }

// Meta returns the frame's metadata (the attached Checkpoint JSON), or nil.
func (v *View) Meta() []byte { return v.meta }

// Layout returns the nodes and buffers the view was set from (aliasing
// them), in IPC body order.
func (v *View) Layout() (rows int, nodes []Node, bufs [][]byte) { return v.rows, v.nodes, v.bufs }

// ColumnView is a typed, read-only view of one column. Accessors take a row
// index in [0, Len()); out-of-range indexes panic like slice indexing.
// Accessors of the wrong kind read the raw bytes reinterpreted, so pick the
// accessor that matches Type().Kind.
type ColumnView struct {
	typ      abi.Type
	length   int
	nulls    int
	width    int
	validity []byte
	offsets  []byte
	values   []byte
	child    *ColumnView
}

// Type returns the column's type.
func (c *ColumnView) Type() abi.Type { return c.typ }

// Len returns the number of values.
func (c *ColumnView) Len() int { return c.length }

// NullCount returns the number of nulls.
func (c *ColumnView) NullCount() int { return c.nulls }

// IsNull reports whether value i is null.
func (c *ColumnView) IsNull(i int) bool {
	if c.nulls == 0 {
		return false
	}
	return c.validity[i>>3]&(1<<(uint(i)&7)) == 0
}

// Validity returns the validity bitmap (nil when there are no nulls).
func (c *ColumnView) Validity() []byte { return c.validity }

// Offsets returns the raw int32 offsets buffer (utf8, binary, list).
func (c *ColumnView) Offsets() []byte { return c.offsets }

// Values returns the raw values buffer (data for utf8 and binary).
func (c *ColumnView) Values() []byte { return c.values }

func (c *ColumnView) at(i, w int) unsafe.Pointer {
	_ = c.values[i*w+w-1]
	return unsafe.Pointer(&c.values[i*w])
}

// Bool returns value i of a bool column.
func (c *ColumnView) Bool(i int) bool { return c.values[i>>3]&(1<<(uint(i)&7)) != 0 }

// Int8 returns value i of an int8 column.
func (c *ColumnView) Int8(i int) int8 { return int8(c.values[i]) }

// Uint8 returns value i of a uint8 column.
func (c *ColumnView) Uint8(i int) uint8 { return c.values[i] }

// Int16 returns value i of an int16 column.
func (c *ColumnView) Int16(i int) int16 { return *(*int16)(c.at(i, 2)) }

// Uint16 returns value i of a uint16 column.
func (c *ColumnView) Uint16(i int) uint16 { return *(*uint16)(c.at(i, 2)) }

// Int32 returns value i of an int32, date32 or time32 column.
func (c *ColumnView) Int32(i int) int32 { return *(*int32)(c.at(i, 4)) }

// Uint32 returns value i of a uint32 column.
func (c *ColumnView) Uint32(i int) uint32 { return *(*uint32)(c.at(i, 4)) }

// Int64 returns value i of an int64, timestamp or time64 column.
func (c *ColumnView) Int64(i int) int64 { return *(*int64)(c.at(i, 8)) }

// Uint64 returns value i of a uint64 column.
func (c *ColumnView) Uint64(i int) uint64 { return *(*uint64)(c.at(i, 8)) }

// Float32 returns value i of a float32 column.
func (c *ColumnView) Float32(i int) float32 { return *(*float32)(c.at(i, 4)) }

// Float64 returns value i of a float64 column.
func (c *ColumnView) Float64(i int) float64 { return *(*float64)(c.at(i, 8)) }

// Decimal128 returns value i of a decimal128 column as hi<<64 | lo.
func (c *ColumnView) Decimal128(i int) (lo uint64, hi int64) {
	p := c.at(i, 16)
	return *(*uint64)(p), *(*int64)(unsafe.Add(p, 8))
}

// Decimal256 returns value i of a decimal256 column as four little-endian
// words, least significant first.
func (c *ColumnView) Decimal256(i int) [4]uint64 { return *(*[4]uint64)(c.at(i, 32)) }

// IntervalMDN returns value i of an interval_mdn column.
func (c *ColumnView) IntervalMDN(i int) (months, days int32, nanos int64) {
	p := c.at(i, 16)
	return *(*int32)(p), *(*int32)(unsafe.Add(p, 4)), *(*int64)(unsafe.Add(p, 8))
}

// Raw returns the little-endian bytes of fixed-width value i.
func (c *ColumnView) Raw(i int) []byte { return c.values[i*c.width : (i+1)*c.width] }

func (c *ColumnView) off(i int) int { return int(*(*int32)(unsafe.Pointer(&c.offsets[i*4]))) }

// Bytes returns value i of a utf8 or binary column, aliasing the frame.
func (c *ColumnView) Bytes(i int) []byte {
	_ = c.offsets[i*4+7]
	s, e := c.off(i), c.off(i+1)
	return c.values[s:e:e]
}

// String returns value i of a utf8 column as a new string.
func (c *ColumnView) String(i int) string { return string(c.Bytes(i)) }

// ListRange returns the range [start, end) of row i's elements in Elem.
func (c *ColumnView) ListRange(i int) (start, end int) {
	_ = c.offsets[i*4+7]
	return c.off(i), c.off(i + 1)
}

// Elem returns the child column of a list column (nil otherwise).
func (c *ColumnView) Elem() *ColumnView { return c.child }
