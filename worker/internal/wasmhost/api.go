// Package wasmhost runs connector modules (Go wasip1 reactors built on the
// sdk) in wazero sandboxes: it compiles each module once (persistent
// compilation cache, one compile per digest at a time), verifies its
// manifest and ABI version, and runs one instance per invocation with the
// rapidbyte host imports (see sdk/abi). Batches cross as Arrow column
// buffers: the host copies, validates and wraps them as arrow records on
// read, and encodes arrow records into frames on write.
//
// # Cancellation and timeouts
//
// Cancellation is cooperative: once ctx is done (or Invocation.Timeout
// passes) every host import fails fast with -ECANCELED and is_cancelled
// returns 1, which the SDK turns into a cancelled context. An export call
// runs on its own goroutine; if the guest does not return within
// CancelGrace after ctx is done, the call returns a timeout or cancelled
// *Error and the instance is abandoned (left running, never reused,
// counted by Runtime.Abandoned, reported to Config.OnAbandon). A guest
// spinning without host calls cannot be stopped inside the process and,
// worse, blocks the Go GC's stop-the-world (wazero's compiled code is not
// preemptible), freezing the process at its next GC: treat an abandonment
// as fatal for the process. Config.CloseOnContextDone compiles in wazero's
// termination checks, which stop such a guest, at 3-5x guest CPU.
package wasmhost

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Config configures a Runtime. The zero value uses the defaults.
type Config struct {
	// CacheDir is the persistent wazero compilation cache directory.
	// Default: os.UserCacheDir()/rapidbyte/wazero.
	CacheDir string
	// MemoryLimitMiB caps the linear memory of each instance. Default 512:
	// a PostgreSQL source or destination peaks near 50 MiB with 16k-row
	// batches, and a lower cap makes a runaway guest fail sooner.
	MemoryLimitMiB uint32
	// FixedMemory backs each instance's memory with one anonymous mapping
	// of MemoryLimitMiB reserved up front (virtual, committed on first
	// touch; Linux and macOS), so memory.grow never copies. Default off.
	// (wazero's WithMemoryCapacityFromMax is not used: it allocates the
	// maximum from the Go heap, which the Go runtime may zero eagerly, and
	// measured 4x slower here.)
	FixedMemory bool
	// CloseOnContextDone compiles guests with wazero's termination checks
	// (WithCloseOnContextDone), so a guest spinning in pure compute is
	// stopped when its ctx is done instead of being abandoned. It costs
	// guest CPU (about 5x measured on a PostgreSQL source): keep it off
	// unless untrusted connectors run. Default off; see the package doc.
	CloseOnContextDone bool
	// CancelGrace is how long an export call may keep running after its
	// ctx is done before the instance is abandoned. Default 2s.
	CancelGrace time.Duration
	// Logger receives runtime events and guest output. Default: hclog.NewNullLogger().
	Logger hclog.Logger
	// OnAbandon, when set, is called with the connector id each time an
	// instance is abandoned, on the goroutine abandoning it. A guest
	// spinning without host calls cannot be preempted: it keeps a core
	// busy and blocks the Go runtime's stop-the-world, so the process
	// freezes at its next GC. A worker should stop serving and exit (to be
	// restarted) when this fires, unless CloseOnContextDone is set.
	OnAbandon func(connector string)
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
	// stream); the host adds connector and op. Default: the Runtime's.
	Logger hclog.Logger
	// State backs the state_get and state_put imports (optional; default:
	// a map that lives for this invocation only).
	State StateStore
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
// and must Release it; rec's buffers are pooled memory, reused once rec is
// released. An error from Batch fails the read.
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
// none carried one), the cumulative records and frame bytes delivered to
// the guest up to that commit, and how many of those records the guest
// rejected (CommitInfo.RecordsFailed). An error fails the write.
type AckFunc func(committed *abi.Checkpoint, records, bytes, failed uint64) error

// Stats describes one invocation.
type Stats struct {
	// Records, Bytes and Batches count the rows, Arrow buffer bytes and
	// batches emitted (Read) or delivered (Write).
	Records, Bytes, Batches uint64
	// LoadDuration is the time to instantiate the module and run
	// _initialize; Duration is the whole invocation.
	LoadDuration, Duration time.Duration
}
