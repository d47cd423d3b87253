package grpcapi

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
)

// FlightData field numbers (Flight.proto).
const (
	fdDescriptor  = 1
	fdDataHeader  = 2
	fdAppMetadata = 3
	fdDataBody    = 1000
)

// Codec is the worker server's gRPC codec (install it with
// grpc.ForceServerCodecV2). It is the standard protobuf codec, except that
// Flight's FlightData, which carries whole Arrow record batch bodies, is
// encoded without copying the body and decoded with one copy:
//
//   - Marshal gathers the small fields and the body as separate buffers,
//     so the body is copied once, by the transport.
//   - Unmarshal copies a DoPut's FlightData body once, straight from the
//     pieces gRPC received it in, into a pooled buffer (see putMessage).
//
// The wire format is the standard one, so any Flight client interoperates.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2(proto.Name) }

// Name implements encoding.CodecV2; it is "proto".
func (Codec) Name() string { return proto.Name }

// bodyMessage is a FlightData whose body is a list of buffers (an IPC
// body gathered from the Arrow buffers, padding included), sent without
// concatenating them, or one gRPC buffer holding the whole body (whole,
// when non-nil; gRPC frees it once written). Only Codec can marshal it.
type bodyMessage struct {
	header, meta []byte
	body         [][]byte
	whole        mem.Buffer
	bodyLen      int
}

// gather is an io.Writer that records the slices written to it without
// copying them; they must stay unchanged until the message is sent.
type gather struct {
	bufs [][]byte
	n    int
}

func (g *gather) Write(p []byte) (int, error) {
	if len(p) > 0 {
		g.bufs = append(g.bufs, p)
		g.n += len(p)
	}
	return len(p), nil
}

func (g *gather) reset() { g.bufs, g.n = g.bufs[:0], 0 }

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if bm, ok := v.(*bodyMessage); ok {
		head := appendFlightHead(nil, nil, bm.header, bm.meta, bm.bodyLen)
		if bm.whole != nil {
			return mem.BufferSlice{mem.SliceBuffer(head), bm.whole}, nil
		}
		out := make(mem.BufferSlice, 0, 1+len(bm.body))
		out = append(out, mem.SliceBuffer(head))
		for _, b := range bm.body {
			out = append(out, mem.SliceBuffer(b))
		}
		return out, nil
	}
	fd, ok := v.(*flight.FlightData)
	if !ok || len(fd.DataBody) == 0 {
		return protoCodec().Marshal(v)
	}
	var desc []byte
	if fd.FlightDescriptor != nil {
		d, err := protov2.Marshal(fd.FlightDescriptor)
		if err != nil {
			return nil, fmt.Errorf("marshal flight descriptor: %w", err)
		}
		desc = d
	}
	head := appendFlightHead(nil, desc, fd.DataHeader, fd.AppMetadata, len(fd.DataBody))
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(fd.DataBody)}, nil
}

// appendFlightHead appends the wire form of a FlightData up to and
// including the data_body tag and length; the body bytes follow it.
func appendFlightHead(head, desc, header, meta []byte, bodyLen int) []byte {
	if desc != nil {
		head = protowire.AppendTag(head, fdDescriptor, protowire.BytesType)
		head = protowire.AppendBytes(head, desc)
	}
	if len(header) > 0 {
		head = protowire.AppendTag(head, fdDataHeader, protowire.BytesType)
		head = protowire.AppendBytes(head, header)
	}
	if len(meta) > 0 {
		head = protowire.AppendTag(head, fdAppMetadata, protowire.BytesType)
		head = protowire.AppendBytes(head, meta)
	}
	head = protowire.AppendTag(head, fdDataBody, protowire.BytesType)
	return protowire.AppendVarint(head, uint64(bodyLen))
}

// Unmarshal implements encoding.CodecV2. A DoPut's FlightData is
// received as a *putMessage (see unmarshalPut); anything else goes to the
// protobuf codec.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if pm, ok := v.(*putMessage); ok {
		return unmarshalPut(data, pm)
	}
	return protoCodec().Unmarshal(data, v)
}
