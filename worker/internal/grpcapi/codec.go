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
// encoded and decoded without copying the body:
//
//   - Marshal gathers the small fields and the body as separate buffers,
//     so the body is copied once, by the transport.
//   - Unmarshal points DataHeader, AppMetadata and DataBody into the
//     received message: gRPC hands it over in pieces of one HTTP/2 frame
//     (16 KiB) each, which Unmarshal joins into one new buffer (a message
//     received in one buffer is kept as is). That buffer is not returned to
//     gRPC's pool (Arrow arrays built on the body may live on); the garbage
//     collector reclaims it. The protobuf codec would join the pieces too,
//     and then copy the body out again.
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

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if pm, ok := v.(*putMessage); ok {
		return c.unmarshalPut(data, pm)
	}
	fd, ok := v.(*flight.FlightData)
	if !ok {
		return protoCodec().Unmarshal(data, v)
	}
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		b = data.Materialize()
	}
	var out flight.FlightData
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return fmt.Errorf("unmarshal flight data: %w", protowire.ParseError(n))
		}
		rest = rest[n:]
		if typ != protowire.BytesType || num != fdDescriptor && num != fdDataHeader && num != fdAppMetadata && num != fdDataBody {
			// Anything else (unknown fields): let the protobuf codec decode it.
			return protoCodec().Unmarshal(data, v)
		}
		val, m := protowire.ConsumeBytes(rest)
		if m < 0 {
			return fmt.Errorf("unmarshal flight data field %d: %w", num, protowire.ParseError(m))
		}
		rest = rest[m:]
		switch num {
		case fdDescriptor:
			if err := mergeDescriptor(&out.FlightDescriptor, val); err != nil {
				return err
			}
		case fdDataHeader:
			out.DataHeader = val
		case fdAppMetadata:
			out.AppMetadata = val
		case fdDataBody:
			out.DataBody = val
		}
	}
	if len(data) == 1 {
		data.Ref() // keep the buffer: out aliases it (never freed, see Codec)
	}
	fd.Reset()
	fd.FlightDescriptor, fd.DataHeader, fd.AppMetadata, fd.DataBody = out.FlightDescriptor, out.DataHeader, out.AppMetadata, out.DataBody
	return nil
}

// mergeDescriptor decodes a FlightData descriptor field into *dst,
// allocating it on the first occurrence: repeated occurrences of a message
// field merge, as in protobuf.
func mergeDescriptor(dst **flight.FlightDescriptor, val []byte) error {
	if *dst == nil {
		*dst = &flight.FlightDescriptor{}
	}
	if err := (protov2.UnmarshalOptions{Merge: true}).Unmarshal(val, *dst); err != nil {
		return fmt.Errorf("unmarshal flight descriptor: %w", err)
	}
	return nil
}
