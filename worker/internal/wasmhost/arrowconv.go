package wasmhost

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// ArrowType returns the Arrow data type of an ABI type.
func ArrowType(t abi.Type) (arrow.DataType, error) {
	switch t.Kind {
	case abi.KindBool:
		return arrow.FixedWidthTypes.Boolean, nil
	case abi.KindInt8:
		return arrow.PrimitiveTypes.Int8, nil
	case abi.KindInt16:
		return arrow.PrimitiveTypes.Int16, nil
	case abi.KindInt32:
		return arrow.PrimitiveTypes.Int32, nil
	case abi.KindInt64:
		return arrow.PrimitiveTypes.Int64, nil
	case abi.KindUint8:
		return arrow.PrimitiveTypes.Uint8, nil
	case abi.KindUint16:
		return arrow.PrimitiveTypes.Uint16, nil
	case abi.KindUint32:
		return arrow.PrimitiveTypes.Uint32, nil
	case abi.KindUint64:
		return arrow.PrimitiveTypes.Uint64, nil
	case abi.KindFloat32:
		return arrow.PrimitiveTypes.Float32, nil
	case abi.KindFloat64:
		return arrow.PrimitiveTypes.Float64, nil
	case abi.KindUtf8:
		return arrow.BinaryTypes.String, nil
	case abi.KindBinary:
		return arrow.BinaryTypes.Binary, nil
	case abi.KindDate32:
		return arrow.FixedWidthTypes.Date32, nil
	case abi.KindTime32:
		return &arrow.Time32Type{Unit: arrowUnit(t.Unit)}, nil
	case abi.KindTime64:
		return &arrow.Time64Type{Unit: arrowUnit(t.Unit)}, nil
	case abi.KindTimestamp:
		return &arrow.TimestampType{Unit: arrowUnit(t.Unit), TimeZone: t.TZ}, nil
	case abi.KindDecimal128:
		return &arrow.Decimal128Type{Precision: t.Precision, Scale: t.Scale}, nil
	case abi.KindDecimal256:
		return &arrow.Decimal256Type{Precision: t.Precision, Scale: t.Scale}, nil
	case abi.KindIntervalMDN:
		return arrow.FixedWidthTypes.MonthDayNanoInterval, nil
	case abi.KindList:
		if t.Elem == nil {
			return nil, fmt.Errorf("list without element type")
		}
		elem, err := ArrowType(*t.Elem)
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(elem), nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

func arrowUnit(u string) arrow.TimeUnit {
	switch u {
	case abi.UnitSecond:
		return arrow.Second
	case abi.UnitMilli:
		return arrow.Millisecond
	case abi.UnitMicro:
		return arrow.Microsecond
	}
	return arrow.Nanosecond
}

func abiUnit(u arrow.TimeUnit) string {
	return [...]string{abi.UnitSecond, abi.UnitMilli, abi.UnitMicro, abi.UnitNano}[u&3]
}

// ABIType returns the ABI type of an Arrow data type, or an error for
// types the ABI does not carry (large, dictionary, struct, ...).
func ABIType(dt arrow.DataType) (abi.Type, error) {
	switch dt := dt.(type) {
	case *arrow.BooleanType:
		return abi.Type{Kind: abi.KindBool}, nil
	case *arrow.Int8Type:
		return abi.Type{Kind: abi.KindInt8}, nil
	case *arrow.Int16Type:
		return abi.Type{Kind: abi.KindInt16}, nil
	case *arrow.Int32Type:
		return abi.Type{Kind: abi.KindInt32}, nil
	case *arrow.Int64Type:
		return abi.Type{Kind: abi.KindInt64}, nil
	case *arrow.Uint8Type:
		return abi.Type{Kind: abi.KindUint8}, nil
	case *arrow.Uint16Type:
		return abi.Type{Kind: abi.KindUint16}, nil
	case *arrow.Uint32Type:
		return abi.Type{Kind: abi.KindUint32}, nil
	case *arrow.Uint64Type:
		return abi.Type{Kind: abi.KindUint64}, nil
	case *arrow.Float32Type:
		return abi.Type{Kind: abi.KindFloat32}, nil
	case *arrow.Float64Type:
		return abi.Type{Kind: abi.KindFloat64}, nil
	case *arrow.StringType:
		return abi.Type{Kind: abi.KindUtf8}, nil
	case *arrow.BinaryType:
		return abi.Type{Kind: abi.KindBinary}, nil
	case *arrow.Date32Type:
		return abi.Type{Kind: abi.KindDate32}, nil
	case *arrow.Time32Type:
		return abi.Type{Kind: abi.KindTime32, Unit: abiUnit(dt.Unit)}, nil
	case *arrow.Time64Type:
		return abi.Type{Kind: abi.KindTime64, Unit: abiUnit(dt.Unit)}, nil
	case *arrow.TimestampType:
		return abi.Type{Kind: abi.KindTimestamp, Unit: abiUnit(dt.Unit), TZ: dt.TimeZone}, nil
	case *arrow.Decimal128Type:
		return abi.Type{Kind: abi.KindDecimal128, Precision: dt.Precision, Scale: dt.Scale}, nil
	case *arrow.Decimal256Type:
		return abi.Type{Kind: abi.KindDecimal256, Precision: dt.Precision, Scale: dt.Scale}, nil
	case *arrow.MonthDayNanoIntervalType:
		return abi.Type{Kind: abi.KindIntervalMDN}, nil
	case *arrow.ListType:
		elem, err := ABIType(dt.Elem())
		if err != nil {
			return abi.Type{}, err
		}
		return abi.Type{Kind: abi.KindList, Elem: &elem}, nil
	}
	return abi.Type{}, fmt.Errorf("arrow type %s is not supported by the connector ABI", dt)
}

// ArrowSchema converts a batch schema to an arrow.Schema; a field's
// SourceType goes into the field metadata under abi.MetaSourceType.
func ArrowSchema(s *batch.Schema) (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		dt, err := ArrowType(s.Types[i])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		fields[i] = arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}
		if f.SourceType != "" {
			fields[i].Metadata = arrow.NewMetadata([]string{abi.MetaSourceType}, []string{f.SourceType})
		}
	}
	return arrow.NewSchema(fields, nil), nil
}

// ABIFields converts an arrow.Schema to ABI fields.
func ABIFields(s *arrow.Schema) ([]abi.Field, error) {
	out := make([]abi.Field, s.NumFields())
	for i, f := range s.Fields() {
		t, err := ABIType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		out[i] = abi.Field{Name: f.Name, Type: t.String(), Nullable: f.Nullable}
		if v, ok := f.Metadata.GetValue(abi.MetaSourceType); ok {
			out[i].SourceType = v
		}
	}
	return out, nil
}

// buildRecord wraps validated buffers (see batch.Validate) as an Arrow
// record without copying. When body is non-nil, every non-empty bufs[i] is
// body.Bytes()[offs[i]:][:len(bufs[i])] and the record's buffers are slices
// of body (memory.SliceBuffer), so body is freed when the last array
// referring to it is released. Any panic in array construction becomes an
// error.
func buildRecord(as *arrow.Schema, bs *batch.Schema, rows int, nodes []batch.Node, bufs [][]byte, body *memory.Buffer, offs []int) (rec arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, fmt.Errorf("build arrow record: %v", p)
		}
	}()
	src := bodyBufs{bufs: bufs, body: body, offs: offs}
	cols := make([]arrow.Array, len(bs.Types))
	ni := 0
	for i, t := range bs.Types {
		data := src.data(as.Field(i).Type, t, nodes, &ni)
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	rec = array.NewRecordBatch(as, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// bodyBufs hands out a batch's buffers in IPC order as Arrow buffers.
type bodyBufs struct {
	bufs [][]byte
	body *memory.Buffer
	offs []int
	next int
}

// buf returns the next buffer, nil when it is empty and nilIfEmpty.
func (s *bodyBufs) buf(nilIfEmpty bool) *memory.Buffer {
	i := s.next
	s.next++
	b := s.bufs[i]
	switch {
	case len(b) == 0 && nilIfEmpty:
		return nil
	case len(b) == 0:
		return memory.NewBufferBytes(b)
	case s.body != nil:
		return memory.SliceBuffer(s.body, s.offs[i], len(b))
	}
	return memory.NewBufferBytes(b)
}

func (s *bodyBufs) data(dt arrow.DataType, t abi.Type, nodes []batch.Node, ni *int) arrow.ArrayData {
	n := nodes[*ni]
	*ni++
	lay := t.Kind.Layout()
	var validity *memory.Buffer
	if n.NullCount > 0 {
		validity = s.buf(false)
	} else {
		s.next++
	}
	buffers := []*memory.Buffer{validity}
	if lay.Offsets {
		if len(s.bufs[s.next]) == 0 {
			s.next++
			buffers = append(buffers, memory.NewBufferBytes(make([]byte, 4)))
		} else {
			buffers = append(buffers, s.buf(false))
		}
	}
	if lay.Values {
		buffers = append(buffers, s.buf(true))
	}
	var children []arrow.ArrayData
	if lay.Child {
		child := s.data(dt.(*arrow.ListType).Elem(), *t.Elem, nodes, ni)
		children = append(children, child)
		defer child.Release()
	}
	data := array.NewData(dt, n.Length, buffers, children, n.NullCount, 0)
	for _, b := range buffers {
		if b != nil {
			b.Release() // data holds its own reference
		}
	}
	return data
}

// recordLayout returns the nodes and buffers of rec in IPC body order,
// trimmed to what the lengths need (aliasing rec's memory).
func recordLayout(rec arrow.RecordBatch, bs *batch.Schema, nodes []batch.Node, bufs [][]byte) ([]batch.Node, [][]byte, error) {
	nodes, bufs = nodes[:0], bufs[:0]
	for i, t := range bs.Types {
		var err error
		nodes, bufs, err = dataLayout(rec.Column(i).Data(), t, nodes, bufs)
		if err != nil {
			return nil, nil, fmt.Errorf("column %q: %w", bs.Fields[i].Name, err)
		}
	}
	return nodes, bufs, nil
}

func bufBytes(d arrow.ArrayData, i int) []byte {
	b := d.Buffers()
	if i >= len(b) || b[i] == nil {
		return nil
	}
	return b[i].Bytes()
}

func prefix(b []byte, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if len(b) < n {
		return nil, fmt.Errorf("buffer of %d bytes, need %d", len(b), n)
	}
	return b[:n], nil
}

func dataLayout(d arrow.ArrayData, t abi.Type, nodes []batch.Node, bufs [][]byte) ([]batch.Node, [][]byte, error) {
	if d.Offset() != 0 {
		return nil, nil, fmt.Errorf("sliced arrays (offset %d) are not supported", d.Offset())
	}
	n, nulls := d.Len(), d.NullN()
	nodes = append(nodes, batch.Node{Length: n, NullCount: nulls})
	var validity []byte
	if nulls > 0 {
		v, err := prefix(bufBytes(d, 0), (n+7)/8)
		if err != nil {
			return nil, nil, fmt.Errorf("validity: %w", err)
		}
		validity = v
	}
	bufs = append(bufs, validity)
	lay := t.Kind.Layout()
	end := 0
	if lay.Offsets {
		var off []byte
		if n > 0 {
			var err error
			if off, err = prefix(bufBytes(d, 1), (n+1)*4); err != nil {
				return nil, nil, fmt.Errorf("offsets: %w", err)
			}
			if binary.LittleEndian.Uint32(off) != 0 {
				return nil, nil, fmt.Errorf("offsets do not start at 0")
			}
			end = int(int32(binary.LittleEndian.Uint32(off[n*4:])))
		}
		bufs = append(bufs, off)
	}
	if lay.Values {
		size := end
		switch {
		case lay.BitPacked:
			size = (n + 7) / 8
		case lay.Width > 0:
			size = n * lay.Width
		}
		idx := 1
		if lay.Offsets {
			idx = 2
		}
		v, err := prefix(bufBytes(d, idx), size)
		if err != nil {
			return nil, nil, fmt.Errorf("values: %w", err)
		}
		bufs = append(bufs, v)
	}
	if lay.Child {
		children := d.Children()
		if len(children) != 1 {
			return nil, nil, fmt.Errorf("list with %d children", len(children))
		}
		return dataLayout(children[0], *t.Elem, nodes, bufs)
	}
	return nodes, bufs, nil
}
