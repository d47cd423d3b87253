// Package guest declares what the worker needs from a loaded connector
// module and the types shared by both sides of that interface (as wazero
// keeps its shared types once, in api): the transport and the runner depend
// on these only, so they can be tested with fakes, and package wasmhost
// implements Module with the real wazero sandbox.
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

// Invocation is one operation on a fresh guest instance.
type Invocation struct {
	// Request is handed to the guest through get_request. The host sets
	// Op, fills ConnectorID when empty and, for Write, Schema.
	Request abi.Request
	// AllowedHosts are extra host or host:port patterns the guest may
	// dial (from the pipeline's permissions), besides the hosts in the
	// connector config ("host", "hosts") and the manifest's allowed_hosts.
	AllowedHosts []string
	// Timeout bounds the whole invocation (0 = only ctx).
	Timeout time.Duration
	// Logger receives guest logs and output, already With(run_id,
	// stream); the host adds connector and op. Default: the runtime's.
	Logger hclog.Logger
	// State backs the state_get and state_put imports (optional; default:
	// a map that lives for this invocation only).
	State StateStore
	// Follow backs the follow_state import of a follow read (nil for
	// every other invocation: the import answers -ENOENT).
	Follow Follow
}

// Follow is what the coordinator last told a follow read.
type Follow interface {
	// State returns the latest persisted checkpoint and stop request.
	State() abi.FollowState
}

// StateStore is the connector state the state_get and state_put imports
// reach (keys are scoped by the caller, for example per connector and
// stream).
type StateStore interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	Put(ctx context.Context, key string, val []byte) error
}

// ReadSink receives a Read's batches in order. Batch is called on the
// goroutine running the guest; a slow sink applies backpressure. cp, when
// not nil, covers every row up to and including rec (rec may have 0 rows
// when the guest checkpointed without a pending batch). The sink owns rec
// and must Release it; rec's buffers may be pooled memory, reused once rec
// is released. An error from Batch fails the read.
type ReadSink interface {
	Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error
}

// WriteSource supplies a Write's batches. Next returns io.EOF at the end.
// cp, when not nil, is the checkpoint covered once rec and every earlier
// batch are committed. The host releases rec once it was copied into the
// guest.
type WriteSource interface {
	Next(ctx context.Context) (arrow.RecordBatch, *abi.Checkpoint, error)
}

// AckFunc is called after each destination commit with the latest
// checkpoint carried by the batches delivered before the commit (nil when
// none carried one), the cumulative records and bytes delivered up to that
// commit and how many of those records the destination rejected. An error
// fails the write.
type AckFunc func(committed *abi.Checkpoint, records, bytes, failed uint64) error

// Stats describes one invocation.
type Stats struct {
	// Records, Bytes and Batches count the rows, Arrow buffer bytes and
	// batches emitted (Read) or delivered (Write).
	Records, Bytes, Batches uint64
	// LoadDuration is the time spent instantiating the guest.
	LoadDuration time.Duration
	// Duration is the wall time of the whole operation.
	Duration time.Duration
	// Phases are the times the connector reported per phase ("connect",
	// "query", "fetch", "flush", "commit") for a successful Read or
	// Write; nil when it reported none.
	Phases map[string]time.Duration
}

// Error is every failure of a module load or invocation: a classified
// envelope (the connector's own, or one the host derived; see wasmhost's
// package doc for the host's classifications) plus the cause.
type Error struct {
	// Connector is the connector id.
	Connector string
	// Op is the operation ("load", "discover", "check", "read", "write").
	Op string
	// Envelope classifies the failure.
	Envelope abi.ErrorEnvelope
	// Err is the underlying cause, if any; it is never sent to clients.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("connector %s %s: %s: %s", e.Connector, e.Op, e.Envelope.Category, e.Envelope.Message)
	if e.Err != nil && e.Err.Error() != e.Envelope.Message {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
