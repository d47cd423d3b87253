package abi

// WireRowsOp is the op argument of the wire_rows import: one of the loops
// of the SDK's batch.Builder.AppendWireRows (rows of consecutive fields,
// each a 4-byte big-endian length, -1 for NULL, and that many bytes). The
// host runs it natively over guest memory: a Go guest runs these loops
// about five times slower than native code, and they were most of a
// PostgreSQL source's CPU (docs/rationale.md).
//
// The args argument points at WireArgsWords little-endian u64 words. The
// rows are a Go []([]byte) in guest memory: WireArgRows is the address of
// its first slice header (data address, length and capacity, u64 each),
// WireArgNRows their count. A location (u64) packs a field's offset in its
// row (low 32 bits) and its length, -1 for NULL (high 32 bits); row r's
// field is at WireArgLocs + 8*r*WireArgStride. Each op reads its inputs
// from words WireArgIn..WireArgIn+5 and writes its results to words
// WireArgOut..WireArgOut+2:
//
//   - WireRowsLocate: in ncols, budget (i64), rowSize, nonEmpty (0/1).
//     Stores the location of field c of row r at locs[r*ncols+c] and
//     checks that it lies in its row; stops before the row that overdraws
//     budget (less rowSize plus its field bytes per row) unless it is the
//     first and !nonEmpty. Out: rows located, their bytes after the
//     lengths (including the row it stopped at), and the index of a
//     malformed row or -1 (i64); on a malformed row the first two are 0.
//   - WireRowsBE16/BE32/BE64: in dst address, dst length. Stores each
//     non-NULL field, which must be exactly that wide, at dst[r*w:] in
//     little-endian. Out: NULLs, and the index of a field of another
//     length or -1.
//   - WireRowsBE32Shift/BE64Shift: as BE32/BE64, adding in word 2 (an
//     i64) except to the minimum and maximum values; a BE64 sum that
//     overflows or lands on either is rejected like a bad length.
//   - WireRowsBool: in bitmap address, bitmap length, first bit. Sets bit
//     first+r (LSB first) for each non-zero 1-byte field. Out as BE16.
//   - WireRowsBytes/VersionedBytes: in values address, values length,
//     start, offsets address, offsets length, version byte. Copies each
//     field to values from start on (Versioned: after checking, and
//     dropping, a first byte equal to version), and stores the end
//     position after row r as a little-endian u32 at offsets[4*r:]. Out:
//     end position, NULLs, and the index of a field without the version
//     byte or -1.
//   - WireRowsBytesSize: Out: the fields' total bytes (NULL counts 0).
type WireRowsOp int32

// Wire-row ops.
const (
	WireRowsLocate WireRowsOp = iota + 1
	WireRowsBE16
	WireRowsBE32
	WireRowsBE64
	WireRowsBE32Shift
	WireRowsBE64Shift
	WireRowsBool
	WireRowsBytes
	WireRowsVersionedBytes
	WireRowsBytesSize
)

// Words of the wire_rows args block.
const (
	WireArgRows   = 0  // address of the rows' slice headers
	WireArgNRows  = 1  // number of rows
	WireArgLocs   = 2  // address of the first row's location
	WireArgStride = 3  // locations between two rows' fields
	WireArgIn     = 4  // first of 6 op inputs
	WireArgOut    = 10 // first of 3 op results
	WireArgsWords = 13 // the block's size in words
)

// Wire-field encoding ops: the inverse of the decoding ops, for a
// destination that writes rows in the same wire form (each field a 4-byte
// big-endian length, -1 for NULL, then that many bytes). They go through
// the same wire_rows import, so a guest built with them runs its own loops
// on a host that predates them (-EINVAL), and a guest built before them
// never asks.
//
// An encoding op writes one column of m rows, each at its own position:
// row j's field goes to dst at the little-endian int64 cursor j, which then
// advances past it. The caller sized the rows; a field that does not fit
// dst is out of range. All 13 words of the block are inputs (WireEnc*
// below) and none is written back:
//
//   - WireEncodeFixed: values holds m little-endian values of width 2, 4
//     or 8 bytes. A non-NULL field is the value big-endian, less param (an
//     i64, wrapping) unless the value is the minimum or the maximum of its
//     width.
//   - WireEncodeBool: values is a bitmap (LSB first); row j's value is bit
//     first+j, stored as one byte, 0 or 1.
//   - WireEncodeBytes: offsets holds m+1 little-endian int32 offsets into
//     values, row j's value being values[offsets[j]:offsets[j+1]]. With
//     param > 0 the field is the byte param-1 followed by the value (a
//     version byte, as jsonb's).
//   - WireEncodeSlots: values holds m slots of width bytes, each a whole
//     field (length and bytes, or a NULL length) that the caller encoded
//     itself; it is copied as it is. The validity bitmap is not read.
//
// Row j is NULL when the validity bitmap (length 0: no NULLs) has bit
// first+j clear.
const (
	WireEncodeFixed WireRowsOp = iota + 101
	WireEncodeBool
	WireEncodeBytes
	WireEncodeSlots
)

// Words of the block of an encoding op.
const (
	WireEncCursors     = 0  // address of the m int64 cursors
	WireEncRows        = 1  // m
	WireEncDst         = 2  // address of the output buffer
	WireEncDstLen      = 3  // its length
	WireEncValues      = 4  // address of the values (or bitmap, or slots)
	WireEncValuesLen   = 5  // their length
	WireEncOffsets     = 6  // address of the offsets (WireEncodeBytes)
	WireEncOffsetsLen  = 7  // their length
	WireEncValidity    = 8  // address of the validity bitmap
	WireEncValidityLen = 9  // its length, 0 when no row is NULL
	WireEncFirst       = 10 // bit of row 0 in the validity bitmap (and a bool bitmap)
	WireEncParam       = 11 // Fixed: the shift; Bytes: version byte + 1, or 0
	WireEncWidth       = 12 // Fixed: value width; Slots: slot width
)
