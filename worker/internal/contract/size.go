package contract

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Size returns the bytes rec's rows take in an Arrow IPC body (each
// buffer padded to 8 bytes), counting only the rows of a sliced record:
// the measure max_batch_bytes bounds.
func Size(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += arraySize(c)
	}
	return n
}

func pad(n int64) int64 { return (n + 7) &^ 7 }

// arraySize is the IPC body size of a's rows: validity bitmap (when a has
// nulls), then the type's buffers for the rows in a's slice; variable-width
// data and list children are counted through their offsets.
func arraySize(a arrow.Array) int64 {
	n := int64(a.Len())
	var size int64
	if a.NullN() > 0 {
		size += pad((n + 7) / 8)
	}
	switch v := a.(type) {
	case *array.Boolean:
		size += pad((n + 7) / 8)
	case *array.String:
		size += varSize(v.ValueOffsets(), n)
	case *array.Binary:
		size += varSize(v.ValueOffsets(), n)
	case *array.LargeString:
		size += largeVarSize(v.ValueOffsets(), n)
	case *array.LargeBinary:
		size += largeVarSize(v.ValueOffsets(), n)
	case *array.List:
		offs := v.Offsets()
		if n > 0 && len(offs) > 0 {
			size += pad(4 * (n + 1))
			child := array.NewSlice(v.ListValues(), int64(offs[0]), int64(offs[len(offs)-1]))
			size += arraySize(child)
			child.Release()
		}
	case *array.Struct:
		for i := range v.NumField() {
			size += arraySize(v.Field(i))
		}
	default:
		if fw, ok := a.DataType().(arrow.FixedWidthDataType); ok {
			size += pad(n * int64(fw.BitWidth()) / 8)
		} else {
			// Any other layout: its buffers as they are (an upper bound
			// for a slice).
			for _, b := range a.Data().Buffers() {
				if b != nil {
					size += pad(int64(b.Len()))
				}
			}
		}
	}
	return size
}

// varSize is the offsets and data of n variable-width values.
func varSize(offs []int32, n int64) int64 {
	if n == 0 || len(offs) == 0 {
		return 0
	}
	return pad(4*(n+1)) + pad(int64(offs[len(offs)-1]-offs[0]))
}

// largeVarSize is varSize with 64-bit offsets.
func largeVarSize(offs []int64, n int64) int64 {
	if n == 0 || len(offs) == 0 {
		return 0
	}
	return pad(8*(n+1)) + pad(offs[len(offs)-1]-offs[0])
}
