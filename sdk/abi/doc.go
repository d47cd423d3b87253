// Package abi is the single source of truth for the Rapidbyte guest ABI: the
// export and import names, the ABI version, the batch descriptor and frame
// layouts, and the JSON envelopes that cross the boundary. Both the host
// (worker/internal/wasmhost) and the guest SDK import it; it has no
// dependencies and never logs.
//
// # Module shape
//
// A connector is a WASI preview 1 reactor (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared). The host runs _initialize, checks rb_abi_version, and
// then calls, on one instance: rb_open, then exactly one of rb_discover,
// rb_check, rb_read or rb_write, then rb_close (always, even after a failure).
// Exports take no arguments and return an i32: 0 or more is success, a
// negative value is failure, and before returning it the guest has handed an
// ErrorEnvelope to the host through set_error.
//
// # Memory
//
// The guest owns all memory. It passes (ptr, len) pairs of its own buffers to
// imports; the host bounds-checks every range, reads or writes it only during
// the call, and never keeps a view across calls. When host data does not fit
// the guest's buffer (get_request, next_batch, state_get), the import returns
// the needed length without writing and without consuming anything; the guest
// grows its buffer and calls again.
//
// Every i32 argument is decoded on the host with api.DecodeI32/DecodeU32: the
// upper 32 bits of the stack slot are garbage.
//
// # Batches
//
// A source first calls emit_schema once with a SchemaEnvelope (JSON). Each
// batch is then passed to emit_batch as a descriptor: a little-endian array of
// u32 words, laid out as
//
//	rows, nodeCount, bufferCount,
//	nodeCount   x (length, nullCount),
//	bufferCount x (ptr, len)
//
// Nodes and buffers follow the Arrow IPC body order: for each field,
// depth-first, one node; and its buffers: validity bitmap (len 0 when the
// node has no nulls), then offsets (int32; utf8, binary, list), then values
// (fixed-width types, utf8 and binary data). A list's child field follows its
// parent. The host checks every range, the buffer count against the schema,
// and the offsets, then wraps the copied buffers as an Arrow record batch
// (the worker sends it as a Flight IPC message).
//
// Field types use the grammar of ParseType; Type.Layout and Kind.Layout
// give the buffers of each node, shared by the host and the SDK. A bool's
// values are a bitmap; every validity bitmap and bool bitmap starts at bit 0
// (no slicing offsets).
//
// A destination calls next_batch(buf, cap) and receives one frame in the
// same layout, except that each buffer's ptr is an offset from the start of
// the frame, and the frame starts with the word FrameMagic. After the
// buffer pairs one more (offset, len) pair locates the frame's metadata:
//
//	FrameMagic, rows, nodeCount, bufferCount, nodes..., buffers...,
//	metaOffset, metaLen, padding, bodies..., meta
//
// Every body starts at a multiple of 8 bytes from the frame start. The
// metadata is the Checkpoint JSON the host attached to this batch (metaLen
// 0 when the batch carries none): the cursor position that is covered once
// this batch and every earlier one are durably written. The destination's
// schema arrives before any frame, in Request.Schema (see below).
//
// # Checkpoints
//
// A source calls checkpoint(ptr, len) with a Checkpoint JSON after the
// emit_batch calls it covers; the host attaches it to the last emitted batch
// (or to an empty batch when none is pending). A destination calls
// checkpoint(ptr, 0) (empty payload) once everything from the frames
// returned so far is durably committed; the host then acknowledges the
// latest checkpoint carried by those frames. A non-empty payload from a
// destination is ignored by the host (it never trusts a guest-made cursor).
//
// # Schema of a write
//
// For OpWrite the host fills Request.Schema with the stream's fields before
// rb_open; it is nil when the input stream is empty. Every frame follows
// that schema; the host fails the write with a schema error when a later
// batch does not match it.
//
// # Manifest
//
// The module carries its Manifest in the custom section ManifestSection
// (protojson of rapidbyte.v1.ConnectorManifest, written by sdk/cmd/rbpack);
// ReadManifest reads it without compiling or instantiating the module. The
// host refuses a module whose manifest is missing or invalid, whose
// abi_version or rb_abi_version differs from Version, or that lacks the
// exports its roles need.
//
// # Sockets
//
// sock_read never blocks indefinitely: timeout_ms 0 polls and returns
// -EAGAIN when no data is ready; the SDK's net.Conn yields with
// runtime.Gosched between polls. A blocking read would freeze the
// single-threaded guest.
package abi
