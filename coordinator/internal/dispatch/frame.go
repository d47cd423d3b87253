package dispatch

import (
	"fmt"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// frame is one message of a relayed Flight stream in its wire form. The
// relay never unmarshals a FlightData: it reads the two small fields it
// needs (data_header and app_metadata) in place and forwards the bytes, so
// the Arrow body is neither decoded nor re-encoded.
type frame struct{ b []byte }

// rawCodec moves frames as raw bytes. It reports the name "proto", so the
// workers see ordinary protobuf Flight calls.
type rawCodec struct{}

// Marshal implements encoding.CodecV2.
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("relay codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}

// Unmarshal implements encoding.CodecV2; it copies the message out of
// gRPC's pooled buffers.
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("relay codec: cannot unmarshal into %T", v)
	}
	f.b = data.Materialize()
	return nil
}

// Name implements encoding.CodecV2.
func (rawCodec) Name() string { return "proto" }

// FlightData field numbers (Flight.proto).
const (
	fieldDescriptor  = 1
	fieldDataHeader  = 2
	fieldAppMetadata = 3
)

// flightFields returns the data_header and app_metadata of a serialized
// FlightData without copying or decoding anything else.
func flightFields(b []byte) (header, meta []byte, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("flight data: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldDataHeader || num == fieldAppMetadata) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, nil, fmt.Errorf("flight data field %d: %w", num, protowire.ParseError(m))
			}
			if num == fieldDataHeader {
				header = v
			} else {
				meta = v
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, nil, fmt.Errorf("flight data field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return header, meta, nil
}

// withDescriptor returns a copy of the serialized FlightData b with its
// flight_descriptor set to a CMD descriptor holding cmd. (A repeated
// message field merges, so a descriptor b already has would be combined.)
func withDescriptor(b, cmd []byte) ([]byte, error) {
	desc, err := proto.Marshal(&flightpb.FlightDescriptor{Type: flightpb.FlightDescriptor_CMD, Cmd: cmd})
	if err != nil {
		return nil, fmt.Errorf("encode descriptor: %w", err)
	}
	out := make([]byte, 0, len(desc)+len(b)+8)
	out = protowire.AppendTag(out, fieldDescriptor, protowire.BytesType)
	out = protowire.AppendBytes(out, desc)
	return append(out, b...), nil
}
