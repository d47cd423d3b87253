package grpcapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/bufpool"
)

// wireStream stands in for a gRPC stream: SendMsg marshals with Codec and
// frees what Marshal returned once it has copied it out (as gRPC's
// transport does); RecvMsg unmarshals the sent messages from pieces of
// 16 KiB.
type wireStream struct {
	wire   [][]byte
	wholes int // messages whose body went out as one pooled buffer
}

func (s *wireStream) Send(fd *flight.FlightData) error { return s.SendMsg(fd) }

func (s *wireStream) SendMsg(m any) error {
	if bm, ok := m.(*bodyMessage); ok && bm.whole != nil {
		s.wholes++
	}
	out, err := Codec{}.Marshal(m)
	if err != nil {
		return err
	}
	s.wire = append(s.wire, out.Materialize())
	out.Free()
	return nil
}

func (s *wireStream) RecvMsg(m any) error {
	if len(s.wire) == 0 {
		return io.EOF
	}
	w := s.wire[0]
	s.wire = s.wire[1:]
	var data mem.BufferSlice
	for rest := w; len(rest) > 0; {
		n := min(16<<10, len(rest))
		data = append(data, mem.SliceBuffer(bytes.Clone(rest[:n])))
		rest = rest[n:]
	}
	return Codec{}.Unmarshal(data, m)
}

// pooledRecord builds a record of an int64 and a nullable string column
// whose buffers are slices of one body allocated from alloc, laid out as
// wasmhost lays out an emitted batch (8-byte aligned, IPC order).
func pooledRecord(t *testing.T, alloc memory.Allocator, rows int) arrow.RecordBatch {
	t.Helper()
	pad := func(n int) int { return (n + 7) &^ 7 }
	var strs []byte
	offsets := make([]byte, 4*(rows+1))
	validity := make([]byte, (rows+7)/8)
	ints := make([]byte, 8*rows)
	for i := range rows {
		binary.LittleEndian.PutUint64(ints[8*i:], uint64(i*7-3))
		if i%5 != 0 {
			validity[i/8] |= 1 << (i % 8)
			strs = append(strs, "row"[:i%4]...)
		}
		binary.LittleEndian.PutUint32(offsets[4*(i+1):], uint32(len(strs)))
	}
	parts := [][]byte{ints, validity, offsets, strs}
	total := 0
	for _, p := range parts {
		total += pad(len(p))
	}
	body := memory.NewResizableBuffer(alloc)
	defer body.Release()
	body.Resize(total)
	var slices []*memory.Buffer
	off := 0
	for _, p := range parts {
		copy(body.Bytes()[off:], p)
		clear(body.Bytes()[off+len(p) : off+pad(len(p))])
		slices = append(slices, memory.SliceBuffer(body, off, len(p)))
		off += pad(len(p))
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	nulls := 0
	for i := range rows {
		if i%5 == 0 {
			nulls++
		}
	}
	d0 := array.NewData(arrow.PrimitiveTypes.Int64, rows, []*memory.Buffer{nil, slices[0]}, nil, 0, 0)
	d1 := array.NewData(arrow.BinaryTypes.String, rows, []*memory.Buffer{slices[1], slices[2], slices[3]}, nil, nulls, 0)
	for _, s := range slices {
		s.Release()
	}
	c0, c1 := array.MakeFromData(d0), array.MakeFromData(d1)
	d0.Release()
	d1.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{c0, c1}, int64(rows))
	c0.Release()
	c1.Release()
	return rec
}

// TestPooledBodyRoundTrip sends records whose body is one pooled buffer
// through flightSink and reads them back through putReader: the body goes
// out as one buffer, every pooled buffer is freed once the record and the
// send are done, and the records arrive intact.
func TestPooledBodyRoundTrip(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	stream := &wireStream{}
	sink := newFlightSink(stream)
	var want []arrow.RecordBatch
	for _, rows := range []int{20_000, 3, 50_000} {
		rec := pooledRecord(t, alloc, rows)
		rec.Retain()
		want = append(want, rec)
		if err := sink.Batch(rec, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.close(); err != nil {
		t.Fatal(err)
	}
	if stream.wholes != 2 { // the 3-row body is too small to pool
		t.Errorf("%d bodies went out whole, want 2", stream.wholes)
	}

	rdr, pr, err := newPutReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	for i := 0; rdr.Next(); i++ {
		var meta rbv1.BatchMeta
		if err := proto.Unmarshal(pr.lastMeta, &meta); err != nil {
			t.Fatal(err)
		}
		got := rdr.RecordBatch()
		if i >= len(want) || !array.RecordEqual(got, want[i]) || meta.GetRecords() != uint64(got.NumRows()) {
			t.Fatalf("batch %d differs (%d rows, meta %v)", i, got.NumRows(), &meta)
		}
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	// The sink and the sends released their references: the bodies are
	// back with the allocator once the test drops its own.
	for _, r := range want {
		r.Release()
	}
	alloc.AssertSize(t, 0)
}

// TestPutMessageFallback: a FlightData with a field putMessage does not
// know still decodes (through the protobuf codec), as does a message
// without a body.
func TestPutMessageFallback(t *testing.T) {
	var wire []byte
	wire = protowire.AppendTag(wire, fdDataHeader, protowire.BytesType)
	wire = protowire.AppendBytes(wire, []byte("header"))
	wire = protowire.AppendTag(wire, 99, protowire.VarintType) // unknown
	wire = protowire.AppendVarint(wire, 7)
	wire = protowire.AppendTag(wire, fdDataBody, protowire.BytesType)
	wire = protowire.AppendBytes(wire, []byte("body"))
	var m putMessage
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.header) != "header" || m.body == nil || string(m.body.Bytes()) != "body" {
		t.Fatalf("got header %q body %v", m.header, m.body)
	}
	m.body.Release()

	wire = protowire.AppendTag(nil, fdAppMetadata, protowire.BytesType)
	wire = protowire.AppendBytes(wire, []byte("meta"))
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.meta) != "meta" || m.body != nil {
		t.Fatalf("got meta %q body %v", m.meta, m.body)
	}
}

// TestPutMessageTruncated: a field longer than the message is an error.
func TestPutMessageTruncated(t *testing.T) {
	wire := protowire.AppendTag(nil, fdDataBody, protowire.BytesType)
	wire = protowire.AppendVarint(wire, 100)
	wire = append(wire, "short"...)
	var m putMessage
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &m); err == nil {
		t.Fatal("no error")
	}
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x80})}, &m); err == nil {
		t.Fatal("no error for a truncated tag")
	}
}

// TestPutBodyBounded: a record batch message whose buffers reach past the
// end of its body is an error. The body is a pooled buffer with capacity
// past its length; reading there would hand the destination bytes of an
// earlier batch (possibly another stream's) as data.
func TestPutBodyBounded(t *testing.T) {
	const rows = 8000 // a 64000-byte body
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range rows {
		bld.Append(int64(i))
	}
	col := bld.NewArray()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, rows)
	col.Release()
	stream := &wireStream{}
	sink := newFlightSink(stream)
	if err := sink.Batch(rec, nil); err != nil {
		t.Fatal(err)
	}
	if len(stream.wire) != 2 {
		t.Fatalf("%d messages, want schema and batch", len(stream.wire))
	}
	// Cut the batch's body to 40000 bytes, leaving its header as it was.
	var fd flight.FlightData
	if err := proto.Unmarshal(stream.wire[1], &fd); err != nil {
		t.Fatal(err)
	}
	fd.DataBody = fd.DataBody[:40000]
	cut, err := proto.Marshal(&fd)
	if err != nil {
		t.Fatal(err)
	}
	stream.wire[1] = cut
	// An earlier body in the same size class left its bytes behind.
	for range 8 {
		b := bufpool.Default.Allocate(40000)
		b = b[:cap(b)]
		for i := range b {
			b[i] = 0xAB
		}
		bufpool.Default.Free(b)
	}

	rdr, _, err := newPutReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if rdr.Next() {
		got := rdr.RecordBatch().Column(0).(*array.Int64)
		t.Fatalf("read a batch of %d rows from a short body (row %d = %#x)", got.Len(), rows-1, got.Value(rows-1))
	}
	if rdr.Err() == nil {
		t.Fatal("no error for a body shorter than its buffers")
	}
}

// TestPutDecodeBounded: a compressed buffer whose stated uncompressed size
// is huge is an error. The IPC reader allocates the stated size before
// decompressing; an allocation the runtime cannot satisfy is fatal to the
// process, not a panic.
func TestPutDecodeBounded(t *testing.T) {
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range 1000 {
		bld.Append(int64(i))
	}
	col := bld.NewArray()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 1000)
	col.Release()
	defer rec.Release()
	stream := &wireStream{}
	w := ipc.NewWriterWithPayloadWriter(&payloadWriter{stream: stream}, ipc.WithSchema(schema), ipc.WithLZ4())
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	var fd flight.FlightData
	if err := proto.Unmarshal(stream.wire[1], &fd); err != nil {
		t.Fatal(err)
	}
	// The body's first buffer (the values) starts with its uncompressed
	// length: state a terabyte.
	binary.LittleEndian.PutUint64(fd.DataBody, 1<<40)
	b, err := proto.Marshal(&fd)
	if err != nil {
		t.Fatal(err)
	}
	stream.wire[1] = b

	rdr, _, err := newPutReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if rdr.Next() {
		t.Fatal("read a batch stating a terabyte buffer")
	}
	if rdr.Err() == nil {
		t.Fatal("no error")
	}
}
