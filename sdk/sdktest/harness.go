// Package sdktest runs connectors in tests: NativeHarness runs a connector
// in-process (no wasm) against a native host that dials real TCP and
// collects batches and checkpoints, and RunSource / RunDestination are a
// conformance suite that runs against any Harness, including the real wasm
// host (worker/wasmtest.Open loads a module as one). RunSourceT and
// RunDestinationT run the same suite outside go test, reporting to a
// Report, as `rapidbyte connector test` does.
package sdktest

import (
	"context"
	"encoding/json"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Harness runs one connector operation per call on a fresh instance
// (open, the operation, close). Failures are returned as errors that
// sdk.Classify maps to their envelope (an *sdk.Error).
type Harness interface {
	// Discover runs discover with config.
	Discover(ctx context.Context, config json.RawMessage) (*abi.Catalog, error)
	// Check runs check with config.
	Check(ctx context.Context, config json.RawMessage) error
	// Read runs read of stream and returns everything the source emitted.
	Read(ctx context.Context, req ReadRequest) (*ReadResult, error)
	// Write runs write of the given batches and returns the commits.
	Write(ctx context.Context, req WriteRequest) (*WriteResult, error)
}

// ReadRequest is one read.
type ReadRequest struct {
	Config json.RawMessage
	Stream abi.StreamSpec
	Resume *abi.Checkpoint
}

// EventKind is the kind of one source output event.
type EventKind string

// Source output events.
const (
	EventSchema     EventKind = "schema"
	EventBatch      EventKind = "batch"
	EventCheckpoint EventKind = "checkpoint"
)

// Event is one source output, in emission order.
type Event struct {
	Kind       EventKind
	Schema     []abi.Field     // EventSchema
	Frame      []byte          // EventBatch: a next_batch frame (see package abi)
	Rows       int             // EventBatch
	Checkpoint *abi.Checkpoint // EventCheckpoint
}

// ReadResult is what a read emitted.
type ReadResult struct {
	Events []Event
}

// Schema returns the first schema emitted, or nil.
func (r *ReadResult) Schema() []abi.Field {
	for _, e := range r.Events {
		if e.Kind == EventSchema {
			return e.Schema
		}
	}
	return nil
}

// Rows returns the total rows of the emitted batches.
func (r *ReadResult) Rows() int64 {
	n := int64(0)
	for _, e := range r.Events {
		n += int64(e.Rows)
	}
	return n
}

// Checkpoints returns the emitted checkpoints in order.
func (r *ReadResult) Checkpoints() []abi.Checkpoint {
	var out []abi.Checkpoint
	for _, e := range r.Events {
		if e.Kind == EventCheckpoint {
			out = append(out, *e.Checkpoint)
		}
	}
	return out
}

// Batch is one input batch of a write: a frame and the checkpoint it
// carries (covered once it is committed).
type Batch struct {
	Frame      []byte
	Checkpoint *abi.Checkpoint
}

// WriteRequest is one write.
type WriteRequest struct {
	Config  json.RawMessage
	Stream  abi.StreamSpec
	Schema  []abi.Field
	Batches []Batch
}

// Commit is one destination commit as the host saw it.
type Commit struct {
	// Batches is the number of batches delivered before the commit.
	Batches int
	// Records is the number of rows delivered before the commit.
	Records uint64
	// Checkpoint is the latest checkpoint of those batches (nil if none).
	Checkpoint *abi.Checkpoint
}

// WriteResult is what a write did.
type WriteResult struct {
	Commits []Commit
	// Delivered is the number of batches the destination pulled.
	Delivered int
}

// Batches converts a read's output into write input: each batch with the
// checkpoint emitted after it (before the next batch) attached, the way the
// host attaches them. A checkpoint with no batch before it is dropped.
func (r *ReadResult) Batches() []Batch {
	var out []Batch
	for _, e := range r.Events {
		switch e.Kind {
		case EventBatch:
			out = append(out, Batch{Frame: e.Frame})
		case EventCheckpoint:
			if len(out) > 0 {
				out[len(out)-1].Checkpoint = e.Checkpoint
			}
		}
	}
	return out
}
