// Package guest declares what the worker needs from a loaded connector
// module: the consumer-side mirror of the wasm host's API. The transport and
// the runner depend on these types only, so they can be tested with fakes;
// package wasmguest adapts the real wazero host to them.
package guest

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Module is a compiled connector module. Every operation runs on a fresh
// guest instance that is closed before the call returns.
type Module interface {
	// Manifest returns the manifest embedded in the module.
	Manifest() abi.Manifest
	// Digest returns "sha256:<hex>" of the module bytes.
	Digest() string
	// Discover runs rb_discover.
	Discover(ctx context.Context, inv Invocation) (*abi.Catalog, error)
	// Check runs rb_check.
	Check(ctx context.Context, inv Invocation) (*abi.CheckResult, error)
	// Read runs rb_read, handing every batch to sink in order.
	Read(ctx context.Context, inv Invocation, sink ReadSink) (Stats, error)
	// Write runs rb_write, pulling batches from src and calling ack after
	// every commit the destination reports.
	Write(ctx context.Context, inv Invocation, src WriteSource, ack AckFunc) (Stats, error)
}

// Invocation is one operation on one guest instance.
type Invocation struct {
	// Request is handed to the guest by get_request.
	Request abi.Request
	// AllowedHosts extends the manifest's network allow-list.
	AllowedHosts []string
	// Timeout bounds the whole operation (0 = no extra bound beyond ctx).
	Timeout time.Duration
	// Logger receives the guest's log lines; the host adds connector and op.
	Logger hclog.Logger
}

// ReadSink receives a source's batches, in order, on the goroutine running
// the guest (a slow sink applies backpressure). cp, when non-nil, covers
// every row up to and including rec; rec may have 0 rows when the guest
// checkpointed without a pending batch. The sink owns rec and must Release
// it; rec's buffers may be pooled memory, reused once rec is released. An
// error fails the read.
type ReadSink interface {
	Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error
}

// WriteSource hands a destination its batches; Next returns io.EOF at the
// end of the stream. cp, when non-nil, is covered once rec and every
// earlier batch are committed. The caller owns rec and releases it.
type WriteSource interface {
	Next(ctx context.Context) (arrow.RecordBatch, *abi.Checkpoint, error)
}

// AckFunc is called after each destination commit with the latest
// checkpoint carried by the batches delivered before the commit (nil when
// none carried one), the cumulative records and bytes delivered up to that
// commit and how many of those records the destination rejected. An error
// fails the write.
type AckFunc func(committed *abi.Checkpoint, records, bytes, failed uint64) error

// Stats summarises one operation.
type Stats struct {
	Records, Bytes, Batches uint64
	// LoadDuration is the time spent instantiating the guest.
	LoadDuration time.Duration
	// Duration is the wall time of the whole operation.
	Duration time.Duration
}

// Error is a classified connector failure.
type Error struct {
	// Connector is the connector id.
	Connector string
	// Op is the operation that failed.
	Op string
	// Envelope is the connector's classification of the failure.
	Envelope abi.ErrorEnvelope
	// Err is the underlying error, if any; it is never sent to clients.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("connector %s %s: %s: %s", e.Connector, e.Op, e.Envelope.Category, e.Envelope.Message)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
