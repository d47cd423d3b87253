// Package wireloops lets the sdk package hand the loops of
// batch.Builder.AppendWireRows and of package wirefields to the host in a
// wasm guest (the wire_rows import, abi.WireRowsOp), without sdk/batch or
// sdk/wirefields depending on the host: they run their own Go loops unless
// Host is set.
package wireloops

// Loops runs AppendWireRows' loops. rows are the batch's rows; locs holds
// the field locations (see abi.WireRowsOp), row r's field of a column at
// locs[r*stride]. Each method has the semantics of the op of the same name
// (abi.WireRowsLocate and so on); ok is false when the loop did not run
// (the host refused the call), and the caller then runs its own.
type Loops interface {
	Locate(rows [][]byte, locs []uint64, ncols, budget, rowSize int, nonEmpty bool) (n, size, bad int, ok bool)
	// Fixed runs a fixed-width op (op is an abi.WireRowsOp) into dst.
	Fixed(op int32, dst []byte, rows [][]byte, locs []uint64, stride int, shift int64) (nulls, bad int, ok bool)
	Bool(bm []byte, i0 int, rows [][]byte, locs []uint64, stride int) (nulls, bad int, ok bool)
	// Bytes copies into values[start:cap(values)].
	Bytes(values []byte, start int, offsets []byte, rows [][]byte, locs []uint64, stride int, versioned bool, version byte) (end, nulls, bad int, ok bool)
	BytesSize(rows [][]byte, locs []uint64, stride int) (size int, ok bool)
	// Encode runs an encoding op (abi.WireEncodeFixed and the rest, op
	// being its abi.WireRowsOp); ok as above.
	Encode(op int32, a *EncodeArgs) (ok bool)
}

// EncodeArgs are the inputs of an encoding op (see abi.WireEncCursors and
// the words after it). Cur is the rows' cursors, which the op advances;
// it writes the fields into Dst.
type EncodeArgs struct {
	Cur                            []int
	Dst, Values, Offsets, Validity []byte
	First                          int
	Param                          int64
	Width                          int
}

// Host, when set, runs the loops; nil leaves them to sdk/batch. The sdk
// package sets it in a wasm guest's init.
var Host Loops
