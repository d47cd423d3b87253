package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/worker/internal/bufpool"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/tetratelabs/wazero/api"
)

// readState is the host side of rb_read: the schema, one batch of
// lookahead (so a checkpoint emitted right after a batch is attached to
// it) and counters.
type readState struct {
	sink    ReadSink
	bschema *batch.Schema
	aschema *arrow.Schema
	pending arrow.RecordBatch
	nodes   []batch.Node
	refs    []batch.BufRef
	bufs    [][]byte
	offs    []int
	sinkErr error

	records, bytes, batches uint64
}

func (rs *readState) deliver(in *instance, rec arrow.RecordBatch, cp *abi.Checkpoint) int32 {
	if err := rs.sink.Batch(rec, cp); err != nil {
		rs.sinkErr = err
		in.fault = &Error{Connector: in.connector, Op: in.op, Envelope: sourceEnvelope(err), Err: fmt.Errorf("read sink: %w", err)}
		return -abi.EPIPE
	}
	return 0
}

// finish flushes the pending batch after a successful rb_read.
func (rs *readState) finish(in *instance) error {
	if rs.pending != nil {
		rec := rs.pending
		rs.pending = nil
		if rc := rs.deliver(in, rec, nil); rc < 0 {
			return in.fault
		}
	}
	return nil
}

func (rs *readState) discard() {
	if rs.pending != nil {
		rs.pending.Release()
		rs.pending = nil
	}
}

func hEmitSchema(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	rs := in.read
	if rs == nil {
		in.setFault(abi.CategoryInternal, "bad_call", errors.New("emit_schema called outside rb_read"))
		return -abi.EINVAL
	}
	if rs.bschema != nil {
		in.setFault(abi.CategoryInternal, "bad_schema", errors.New("emit_schema called twice"))
		return -abi.EINVAL
	}
	b, ok := in.readCopy(mod, "emit_schema", api.DecodeU32(s[0]), api.DecodeU32(s[1]), maxSchemaBytes)
	if !ok {
		return -abi.EFAULT
	}
	var env abi.SchemaEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		in.setFault(abi.CategoryInternal, "bad_schema", fmt.Errorf("decode emit_schema: %w", err))
		return -abi.EINVAL
	}
	bs, err := batch.NewSchema(env.Fields)
	if err != nil {
		in.setFault(abi.CategoryInternal, "bad_schema", err)
		return -abi.EINVAL
	}
	as, err := ArrowSchema(bs)
	if err != nil {
		in.setFault(abi.CategoryInternal, "bad_schema", err)
		return -abi.EINVAL
	}
	rs.bschema, rs.aschema = bs, as
	return 0
}

func hEmitBatch(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	rs := in.read
	if rs == nil || rs.bschema == nil {
		in.setFault(abi.CategoryInternal, "bad_call", errors.New("emit_batch called before emit_schema or outside rb_read"))
		return -abi.EINVAL
	}
	descPtr, words := api.DecodeU32(s[0]), api.DecodeU32(s[1])
	if words > uint32(batch.DescriptorWords(rs.bschema.NodeCount, rs.bschema.BufferCount)) {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch descriptor of %d words, schema allows %d",
			words, batch.DescriptorWords(rs.bschema.NodeCount, rs.bschema.BufferCount)))
		return -abi.EINVAL
	}
	desc, ok := read(mod, descPtr, words*4)
	if !ok {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch descriptor [%d, +%d words) is outside guest memory", descPtr, words))
		return -abi.EFAULT
	}
	rows, nodes, refs, err := batch.DecodeDescriptor(desc, rs.bschema, rs.nodes, rs.refs)
	if err != nil {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch: %w", err))
		return -abi.EINVAL
	}
	rs.nodes, rs.refs = nodes, refs
	// One host buffer for the whole body, 8-byte aligned per buffer, from
	// the batch body pool: the record's arrays are slices of it, and it
	// returns to the pool when the last of them is released.
	total := 0
	for _, r := range refs {
		total += (int(r.Len) + 7) &^ 7
	}
	mem := mod.Memory()
	if uint64(total) > uint64(mem.Size())+uint64(8*len(refs)) {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch buffers total %d bytes, more than guest memory", total))
		return -abi.EINVAL
	}
	bodyBuf := memory.NewResizableBuffer(bufpool.Default)
	defer bodyBuf.Release()
	bodyBuf.Resize(total)
	body := bodyBuf.Bytes()
	bufs, offs := rs.bufs[:0], rs.offs[:0]
	off := 0
	for i, r := range refs {
		offs = append(offs, off)
		if r.Len == 0 {
			bufs = append(bufs, nil)
			continue
		}
		src, ok := mem.Read(r.Ptr, r.Len)
		if !ok {
			in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch buffer %d [%d, +%d) is outside guest memory", i, r.Ptr, r.Len))
			return -abi.EFAULT
		}
		n := copy(body[off:], src)
		p := (n + 7) &^ 7
		clear(body[off+n : off+p]) // pooled memory is not zeroed
		bufs = append(bufs, body[off:off+n:off+n])
		off += p
	}
	rs.bufs, rs.offs = bufs, offs
	if err := batch.Validate(rs.bschema, rows, nodes, bufs); err != nil {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch: %w", err))
		return -abi.EINVAL
	}
	rec, err := buildRecord(rs.aschema, rs.bschema, rows, nodes, bufs, bodyBuf, offs)
	if err != nil {
		in.setFault(abi.CategoryInternal, "bad_batch", fmt.Errorf("emit_batch: %w", err))
		return -abi.EINVAL
	}
	rs.records += uint64(rows)
	rs.bytes += uint64(total)
	rs.batches++
	if prev := rs.pending; prev != nil {
		rs.pending = nil
		if rc := rs.deliver(in, prev, nil); rc < 0 {
			rec.Release()
			return rc
		}
	}
	rs.pending = rec
	return 0
}

func hCheckpoint(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	switch {
	case in.read != nil:
		return in.read.checkpoint(in, mod, s)
	case in.write != nil:
		return in.write.commit(ctx, in)
	}
	in.setFault(abi.CategoryInternal, "bad_call", errors.New("checkpoint called outside rb_read and rb_write"))
	return -abi.EINVAL
}

func (rs *readState) checkpoint(in *instance, mod api.Module, s []uint64) int32 {
	b, ok := in.readCopy(mod, "checkpoint", api.DecodeU32(s[0]), api.DecodeU32(s[1]), maxEnvelopeBytes)
	if !ok {
		return -abi.EFAULT
	}
	var cp abi.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		in.setFault(abi.CategoryInternal, "bad_checkpoint", fmt.Errorf("decode checkpoint: %w", err))
		return -abi.EINVAL
	}
	rec := rs.pending
	rs.pending = nil
	if rec == nil {
		if rs.aschema == nil {
			in.setFault(abi.CategoryInternal, "bad_checkpoint", errors.New("checkpoint before emit_schema"))
			return -abi.EINVAL
		}
		rec = guest.EmptyRecord(rs.aschema)
	}
	return rs.deliver(in, rec, &cp)
}

// writeState is the host side of rb_write.
type writeState struct {
	src     WriteSource
	ack     AckFunc
	aschema *arrow.Schema
	bschema *batch.Schema

	cur      arrow.RecordBatch
	curCP    *abi.Checkpoint
	curMeta  []byte
	nodes    []batch.Node
	bufs     [][]byte
	eof      bool
	prepared bool // cur is laid out in nodes, bufs and curMeta

	lastCP                  *abi.Checkpoint
	records, bytes, batches uint64
	uncommitted             uint64 // batches delivered since the last commit
}

func (ws *writeState) prefetch(ctx context.Context) error {
	rec, cp, err := ws.src.Next(ctx)
	if errors.Is(err, io.EOF) {
		ws.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("first batch: %w", err)
	}
	ws.cur, ws.curCP = rec, cp
	return nil
}

func (ws *writeState) setup(in *instance, req *abi.Request) error {
	if ws.cur == nil {
		return nil
	}
	fields, err := ABIFields(ws.cur.Schema())
	if err != nil {
		return newError(in.connector, in.op, abi.CategorySchema, "unsupported_type", err)
	}
	bs, err := batch.NewSchema(fields)
	if err != nil {
		return newError(in.connector, in.op, abi.CategorySchema, "unsupported_type", err)
	}
	ws.aschema, ws.bschema = ws.cur.Schema(), bs
	req.Schema = &abi.SchemaEnvelope{Fields: fields}
	return nil
}

// prepare fetches the next record (unless one is pending) and lays it out.
func (ws *writeState) prepare(ctx context.Context, in *instance) error {
	if ws.cur == nil {
		rec, cp, err := ws.src.Next(ctx)
		if errors.Is(err, io.EOF) {
			ws.eof = true
			return nil
		}
		if err != nil {
			return &Error{Connector: in.connector, Op: in.op, Envelope: sourceEnvelope(err), Err: fmt.Errorf("write source: %w", err)}
		}
		ws.cur, ws.curCP = rec, cp
		if !rec.Schema().Equal(ws.aschema) {
			return newError(in.connector, in.op, abi.CategorySchema, "schema_mismatch",
				fmt.Errorf("batch schema %s differs from the stream schema %s", rec.Schema(), ws.aschema))
		}
	}
	nodes, bufs, err := recordLayout(ws.cur, ws.bschema, ws.nodes, ws.bufs)
	if err != nil {
		return newError(in.connector, in.op, abi.CategorySchema, "bad_batch", err)
	}
	ws.nodes, ws.bufs = nodes, bufs
	ws.curMeta = nil
	if ws.curCP != nil {
		if ws.curMeta, err = json.Marshal(ws.curCP); err != nil {
			return newError(in.connector, in.op, abi.CategoryInternal, "bad_checkpoint", err)
		}
	}
	return nil
}

func hNextBatch(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	ws := in.write
	if ws == nil {
		in.setFault(abi.CategoryInternal, "bad_call", errors.New("next_batch called outside rb_write"))
		return -abi.EINVAL
	}
	if ws.eof {
		return 0
	}
	if !ws.prepared {
		if err := ws.prepare(ctx, in); err != nil {
			in.fault = asError(in, err)
			return -abi.EIO
		}
		if ws.eof {
			return 0
		}
		ws.prepared = true
	}
	size := batch.FrameSize(ws.nodes, ws.bufs, ws.curMeta)
	if size > math.MaxInt32 {
		in.fault = newError(in.connector, in.op, abi.CategoryInternal, "batch_too_large", fmt.Errorf("frame of %d bytes", size))
		return -abi.EINVAL
	}
	buf, capacity := api.DecodeU32(s[0]), api.DecodeU32(s[1])
	if uint32(size) > capacity {
		return int32(size)
	}
	dst, ok := mod.Memory().Read(buf, uint32(size))
	if !ok {
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("next_batch buffer [%d, +%d) is outside guest memory", buf, size))
		return -abi.EFAULT
	}
	batch.PutFrame(dst, int(ws.cur.NumRows()), ws.nodes, ws.bufs, ws.curMeta)
	ws.records += uint64(ws.cur.NumRows())
	ws.bytes += uint64(size)
	ws.batches++
	ws.uncommitted++
	if ws.curCP != nil {
		ws.lastCP = ws.curCP
	}
	ws.cur.Release()
	ws.cur, ws.curCP, ws.curMeta, ws.prepared = nil, nil, nil, false
	return int32(size)
}

func (ws *writeState) commit(_ context.Context, in *instance) int32 {
	ws.uncommitted = 0
	if ws.ack == nil {
		return 0
	}
	if err := ws.ack(ws.lastCP, ws.records, ws.bytes); err != nil {
		in.fault = &Error{Connector: in.connector, Op: in.op, Envelope: sourceEnvelope(err), Err: fmt.Errorf("ack: %w", err)}
		return -abi.EPIPE
	}
	return 0
}

// finish checks, after a successful rb_write, that the destination read
// the whole stream and committed everything it received.
func (ws *writeState) finish(in *instance) error {
	if !ws.eof {
		return newError(in.connector, in.op, abi.CategoryInternal, "incomplete_write",
			errors.New("destination returned before reading the end of the stream"))
	}
	if ws.uncommitted > 0 {
		return newError(in.connector, in.op, abi.CategoryInternal, "uncommitted",
			fmt.Errorf("destination returned without committing its last %d batches", ws.uncommitted))
	}
	return nil
}

func (ws *writeState) discard() {
	if ws.cur != nil {
		ws.cur.Release()
		ws.cur = nil
	}
}
