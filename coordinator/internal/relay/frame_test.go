package relay

import (
	"bytes"
	"testing"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

func TestFrameFields(t *testing.T) {
	in := &flightpb.FlightData{DataHeader: []byte("hdr"), AppMetadata: []byte("meta"), DataBody: bytes.Repeat([]byte{9}, 1000)}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	header, meta, err := flightFields(b)
	if err != nil || string(header) != "hdr" || string(meta) != "meta" {
		t.Errorf("flightFields = %q, %q, %v", header, meta, err)
	}
	withDesc, err := withDescriptor(b, []byte("ticket"))
	if err != nil {
		t.Fatal(err)
	}
	var out flightpb.FlightData
	if err := proto.Unmarshal(withDesc, &out); err != nil {
		t.Fatal(err)
	}
	if string(out.GetFlightDescriptor().GetCmd()) != "ticket" || out.GetFlightDescriptor().GetType() != flightpb.FlightDescriptor_CMD ||
		!bytes.Equal(out.DataBody, in.DataBody) || string(out.DataHeader) != "hdr" {
		t.Errorf("withDescriptor produced %v", &out)
	}
	for _, bad := range [][]byte{{0xff}, {0x12, 0x10, 1}} {
		if _, _, err := flightFields(bad); err == nil {
			t.Errorf("flightFields(%x) accepted malformed input", bad)
		}
	}
}

// TestFrameFieldsMultiBuffer checks that a FlightData received as several
// buffers yields the same fields as the contiguous form, and is forwarded
// unchanged without being copied into one slice.
func TestFrameFieldsMultiBuffer(t *testing.T) {
	body := bytes.Repeat([]byte{7}, 3*fieldsPrefix)
	fd := &flightpb.FlightData{DataHeader: []byte("hdr"), AppMetadata: []byte("meta"), DataBody: body}
	wire, err := proto.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{5, 1000, 16 << 10, len(wire)} {
		var bs mem.BufferSlice
		for off := 0; off < len(wire); off += chunk {
			bs = append(bs, mem.SliceBuffer(wire[off:min(off+chunk, len(wire))]))
		}
		var f frame
		if err := (rawCodec{}).Unmarshal(bs, &f); err != nil {
			t.Fatal(err)
		}
		header, meta, err := f.fields()
		if err != nil || string(header) != "hdr" || string(meta) != "meta" {
			t.Fatalf("chunk %d: fields = %q, %q, %v", chunk, header, meta, err)
		}
		out, err := (rawCodec{}).Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Materialize(); !bytes.Equal(got, wire) {
			t.Fatalf("chunk %d: forwarded %d bytes, want the %d received", chunk, len(got), len(wire))
		}
	}
}

// BenchmarkRelayFrame measures the relay's per-message work on an 11 MB
// FlightData received in 16 KiB buffers: field lookup and hand-off.
func BenchmarkRelayFrame(b *testing.B) {
	fd := &flightpb.FlightData{DataHeader: make([]byte, 600), AppMetadata: make([]byte, 40), DataBody: make([]byte, 11<<20)}
	wire, err := proto.Marshal(fd)
	if err != nil {
		b.Fatal(err)
	}
	var bs mem.BufferSlice
	for off := 0; off < len(wire); off += 16 << 10 {
		bs = append(bs, mem.SliceBuffer(wire[off:min(off+16<<10, len(wire))]))
	}
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		var f frame
		if err := (rawCodec{}).Unmarshal(bs, &f); err != nil {
			b.Fatal(err)
		}
		if _, _, err := f.fields(); err != nil {
			b.Fatal(err)
		}
		out, err := (rawCodec{}).Marshal(&f)
		if err != nil {
			b.Fatal(err)
		}
		out.Free()
	}
}
