package grpcapi

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/mem"
)

// TestCodecRoundTrip sends FlightData through Marshal and Unmarshal (as a
// DoPut's putMessage) the way gRPC delivers it: in one buffer, or in
// pieces of one HTTP/2 frame each.
func TestCodecRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 KB
	in := &flight.FlightData{
		FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("ticket")},
		DataHeader:       []byte("header"),
		AppMetadata:      []byte("meta"),
		DataBody:         body,
	}
	out, err := Codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	wire := out.Materialize()
	for _, piece := range []int{len(wire), 16 << 10, 1000} {
		var data mem.BufferSlice
		for rest := wire; len(rest) > 0; {
			n := min(piece, len(rest))
			data = append(data, mem.SliceBuffer(bytes.Clone(rest[:n])))
			rest = rest[n:]
		}
		var got putMessage
		if err := (Codec{}).Unmarshal(data, &got); err != nil {
			t.Fatalf("pieces of %d: %v", piece, err)
		}
		if got.body == nil {
			t.Fatalf("pieces of %d: no body", piece)
		}
		if string(got.desc.GetCmd()) != "ticket" || string(got.header) != "header" ||
			string(got.meta) != "meta" || !bytes.Equal(got.body.Bytes(), body) {
			t.Fatalf("pieces of %d: got descriptor %v, header %q, meta %q, body of %d bytes",
				piece, got.desc, got.header, got.meta, got.body.Len())
		}
		// Pieces go back to gRPC's pool after Unmarshal: the body must not alias them.
		if len(data) > 1 {
			for _, b := range data {
				clear(b.ReadOnlyData())
			}
			if !bytes.Equal(got.body.Bytes(), body) {
				t.Fatalf("pieces of %d: body aliases the received pieces", piece)
			}
		}
		got.body.Release()
	}
}
