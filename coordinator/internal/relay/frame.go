package relay

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
//
// A received frame keeps gRPC's buffers (bs, with a reference) instead of
// copying them out, and sending it hands them back to gRPC, which frees
// them once written. So a relayed body is copied only by the transports.
type frame struct {
	b  []byte          // the message, when contiguous (see bytes)
	bs mem.BufferSlice // the received buffers, while the frame holds them
	n  int             // the received message's size
}

// release drops the frame's reference to a received gRPC buffer, if any;
// b must not be used afterwards.
func (f *frame) release() {
	if f.bs != nil {
		f.bs.Free()
		f.bs, f.b = nil, nil
	}
}

// rawCodec moves frames as raw bytes. It reports the name "proto", so the
// workers see ordinary protobuf Flight calls.
type rawCodec struct{}

// Marshal implements encoding.CodecV2. A frame holding a received buffer
// passes its reference to gRPC (which frees it after the send), so it can
// be sent once.
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("relay codec: cannot marshal %T", v)
	}
	if f.bs != nil {
		bs := f.bs
		f.bs = nil
		return bs, nil
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}

// Unmarshal implements encoding.CodecV2. The message is kept by reference
// (gRPC frees data after Unmarshal returns, so the frame takes its own
// reference); b aliases it when it is one buffer, and is nil otherwise
// (see bytes and fields).
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("relay codec: cannot unmarshal into %T", v)
	}
	data.Ref()
	f.bs, f.b, f.n = data, nil, data.Len()
	if len(data) == 1 {
		f.b = data[0].ReadOnlyData()
	}
	return nil
}

// bytes returns the whole message as one slice, copying it out of a
// multi-buffer message the first time (the frame then owns the copy).
func (f *frame) bytes() []byte {
	if f.b == nil && f.bs != nil {
		b := f.bs.Materialize()
		f.release()
		f.b = b
	}
	return f.b
}

// fields returns the data_header and app_metadata of the FlightData in f.
// For a message spread over several buffers it parses a copy of the first
// bytes only, as long as the fields it needs lie there and the rest is the
// trailing body; otherwise it copies the whole message.
func (f *frame) fields() (header, meta []byte, err error) {
	if f.b != nil || f.bs == nil {
		return flightFields(f.b)
	}
	total := f.bs.Len()
	n := min(total, fieldsPrefix)
	prefix := make([]byte, n)
	copied := 0
	for _, buf := range f.bs {
		if copied == n {
			break
		}
		copied += copy(prefix[copied:], buf.ReadOnlyData())
	}
	if header, meta, ok := prefixFields(prefix, total); ok {
		return header, meta, nil
	}
	return flightFields(f.bytes())
}

// fieldsPrefix is how many leading bytes of a multi-buffer FlightData
// fields copies to find its small fields.
const fieldsPrefix = 64 << 10

// prefixFields is flightFields over prefix, the first bytes of a message
// of total bytes. ok is false when it cannot tell from prefix alone (a
// field other than a last, trailing one crosses its end, or it is
// malformed): the caller then parses the whole message.
func prefixFields(prefix []byte, total int) (header, meta []byte, ok bool) {
	off := 0
	for off < len(prefix) {
		num, typ, n := protowire.ConsumeTag(prefix[off:])
		if n < 0 || typ != protowire.BytesType {
			return nil, nil, false
		}
		l, m := protowire.ConsumeVarint(prefix[off+n:])
		if m < 0 {
			return nil, nil, false
		}
		start := off + n + m
		end := uint64(start) + l
		if end > uint64(len(prefix)) {
			// Only a field running exactly to the end of the message,
			// other than the two we need, can be skipped unseen.
			if end != uint64(total) || num == fieldDataHeader || num == fieldAppMetadata {
				return nil, nil, false
			}
			return header, meta, true
		}
		switch num {
		case fieldDataHeader:
			header = prefix[start:end]
		case fieldAppMetadata:
			meta = prefix[start:end]
		}
		off = int(end)
	}
	return header, meta, off == total
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
