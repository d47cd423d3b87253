package grpcapi

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"

	"github.com/rapidbyte/rapidbyte/worker/internal/bufpool"
)

// putMessage is a received FlightData whose body is copied once, straight
// from the pieces gRPC received it in, into a buffer of the batch body
// pool (see putReader). Only Codec can unmarshal it.
type putMessage struct {
	desc         *flight.FlightDescriptor
	header, meta []byte
	body         *memory.Buffer // nil when the message has no body; the receiver releases it
}

var errPutFallback = errors.New("not a plain FlightData")

// unmarshalPut decodes data into m. A message with fields other than those
// of FlightData, or of other wire types, goes through the protobuf codec
// as a *flight.FlightData instead.
func unmarshalPut(data mem.BufferSlice, m *putMessage) error {
	*m = putMessage{}
	err := parsePut(data, m)
	if err == nil {
		return nil
	}
	if m.body != nil {
		m.body.Release()
	}
	*m = putMessage{}
	if !errors.Is(err, errPutFallback) {
		return err
	}
	var fd flight.FlightData
	if err := protoCodec().Unmarshal(data, &fd); err != nil {
		return err
	}
	m.desc, m.header, m.meta = fd.FlightDescriptor, fd.DataHeader, fd.AppMetadata
	if len(fd.DataBody) > 0 {
		m.body = memory.NewBufferBytes(fd.DataBody)
	}
	return nil
}

// parsePut decodes the FlightData fields of data into m, the body into a
// pooled buffer; it returns errPutFallback for any other field.
func parsePut(data mem.BufferSlice, m *putMessage) error {
	r := data.Reader()
	defer r.Close()
	for r.Remaining() > 0 {
		tag, err := readUvarint(r)
		if err != nil {
			return fmt.Errorf("unmarshal flight data: %w", err)
		}
		num, typ := protowire.DecodeTag(tag)
		if typ != protowire.BytesType || num != fdDescriptor && num != fdDataHeader && num != fdAppMetadata && num != fdDataBody {
			return errPutFallback
		}
		n, err := readUvarint(r)
		if err != nil {
			return fmt.Errorf("unmarshal flight data field %d: %w", num, err)
		}
		if n > uint64(r.Remaining()) {
			return fmt.Errorf("unmarshal flight data field %d: %w", num, io.ErrUnexpectedEOF)
		}
		if num == fdDataBody {
			if m.body != nil {
				m.body.Release()
			}
			m.body = newBody(int(n))
			if _, err := io.ReadFull(r, m.body.Bytes()); err != nil {
				return fmt.Errorf("unmarshal flight data body: %w", err)
			}
			continue
		}
		val := make([]byte, n)
		if _, err := io.ReadFull(r, val); err != nil {
			return fmt.Errorf("unmarshal flight data field %d: %w", num, err)
		}
		switch num {
		case fdDescriptor:
			if err := mergeDescriptor(&m.desc, val); err != nil {
				return err
			}
		case fdDataHeader:
			m.header = val
		case fdAppMetadata:
			m.meta = val
		}
	}
	return nil
}

// newBody returns a buffer of n bytes from the batch body pool with no
// capacity past n. The arrays of a batch are slices of its body at offsets
// the peer sent, and Go slicing reaches up to a slice's capacity: past n,
// a pooled buffer holds an earlier batch's bytes (possibly another
// stream's). With the capacity cut, such an offset fails the read.
func newBody(n int) *memory.Buffer {
	full := bufpool.Default.Allocate(n)
	return memory.NewBufferWithAllocator(full[:n:n], pooledBody{full})
}

// pooledBody is the memory.Allocator of one body from newBody: Free
// returns the whole pooled buffer.
type pooledBody struct{ full []byte }

// Allocate implements memory.Allocator; a body never grows.
func (pooledBody) Allocate(int) []byte { panic("grpcapi: a received body never grows") }

// Reallocate implements memory.Allocator; a body never grows.
func (pooledBody) Reallocate(int, []byte) []byte { panic("grpcapi: a received body never grows") }

// Free implements memory.Allocator.
func (p pooledBody) Free([]byte) { bufpool.Default.Free(p.full) }

var errVarint = errors.New("malformed varint")

// readUvarint reads a protobuf base-128 varint of at most 10 bytes.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < 10; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		if i == 9 && b > 1 {
			return 0, errVarint
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return x, nil
		}
	}
	return 0, errVarint
}

// putReader is the ipc.MessageReader of a DoPut stream. Each batch body is
// a pooled buffer (see putMessage) that the record's arrays slice; it goes
// back to the pool when the message has been replaced by the next one and
// the record is released.
type putReader struct {
	stream   interface{ RecvMsg(m any) error }
	msg      *ipc.Message
	peeked   *putMessage
	desc     *flight.FlightDescriptor // the latest descriptor received
	lastMeta []byte                   // app_metadata of the latest message
	refs     atomic.Int64
	decode   decodeBudget // the ipc.Reader's allocator
}

// maxDecodedBytes bounds what the IPC reader allocates while decoding one
// message, beyond its body: decompressed buffers, whose sizes the peer
// states. Go cannot recover from an allocation the runtime cannot
// satisfy, so one message stating a terabyte would stop the worker.
const maxDecodedBytes = 1 << 30

// decodeBudget is a putReader's ipc.Reader allocator: Go memory, at most
// maxDecodedBytes of it per message (putReader.Message resets it). Past
// that, Allocate panics, which the ipc.Reader turns into its error.
type decodeBudget struct{ left int }

func (d *decodeBudget) take(n int) {
	if n > d.left {
		panic(fmt.Errorf("a message decodes to more than %d bytes", maxDecodedBytes))
	}
	d.left -= n
}

// Allocate implements memory.Allocator.
func (d *decodeBudget) Allocate(n int) []byte {
	d.take(n)
	return memory.DefaultAllocator.Allocate(n)
}

// Reallocate implements memory.Allocator.
func (d *decodeBudget) Reallocate(n int, b []byte) []byte {
	if n > len(b) {
		d.take(n - len(b))
	}
	return memory.DefaultAllocator.Reallocate(n, b)
}

// Free implements memory.Allocator.
func (d *decodeBudget) Free(b []byte) { memory.DefaultAllocator.Free(b) }

// newPutReader reads the stream's first message (for its descriptor) and
// returns an ipc.Reader over the stream, which reads the schema.
func newPutReader(stream interface{ RecvMsg(m any) error }) (*ipc.Reader, *putReader, error) {
	first := new(putMessage)
	if err := stream.RecvMsg(first); err != nil {
		return nil, nil, err
	}
	pr := &putReader{stream: stream, desc: first.desc}
	pr.refs.Add(1)
	if len(first.header) > 0 {
		pr.peeked = first
	} else if first.body != nil {
		first.body.Release()
	}
	rdr, err := ipc.NewReaderFromMessageReader(pr, ipc.WithAllocator(&pr.decode))
	if err != nil { // the ipc.Reader released pr
		return nil, nil, fmt.Errorf("read schema: %w", err)
	}
	return rdr, pr, nil
}

// Message implements ipc.MessageReader.
func (p *putReader) Message() (*ipc.Message, error) {
	if p.msg != nil {
		p.msg.Release()
		p.msg = nil
	}
	p.decode.left = maxDecodedBytes
	m := p.peeked
	p.peeked = nil
	if m == nil {
		m = new(putMessage)
		if err := p.stream.RecvMsg(m); err != nil {
			p.lastMeta = nil
			return nil, err
		}
	}
	p.lastMeta = m.meta
	if m.desc != nil {
		p.desc = m.desc
	}
	body := m.body
	if body == nil {
		body = memory.NewBufferBytes(nil)
	}
	p.msg = ipc.NewMessage(memory.NewBufferBytes(m.header), body)
	body.Release() // the message holds its own reference
	return p.msg, nil
}

// Retain implements ipc.MessageReader.
func (p *putReader) Retain() { p.refs.Add(1) }

// Release implements ipc.MessageReader.
func (p *putReader) Release() {
	if p.refs.Add(-1) == 0 {
		if p.msg != nil {
			p.msg.Release()
			p.msg = nil
		}
		if p.peeked != nil && p.peeked.body != nil {
			p.peeked.body.Release()
			p.peeked = nil
		}
	}
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
