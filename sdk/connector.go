// Package sdk is what a Rapidbyte connector author imports. A connector is
// a Go main package built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared
// whose init calls Serve with its Source and/or Destination:
//
//	func init() { sdk.Serve(sdk.Connector{Source: &mySource{}}) }
//	func main() {}
//
// The host runs one instance per operation: Open, then exactly one of
// Discover, Check, Read or Write, then Close (always, even after a failure,
// as long as Open was called). Methods are called one at a time from a
// single goroutine, never concurrently.
//
// # Context
//
// Every ctx passed to a connector is cancelled when the host cancels the
// operation (the SDK polls the is_cancelled import). Cancellation is
// cooperative: a connector in a long loop checks ctx.Err() or Cancelled(ctx)
// and returns ctx.Err(); the SDK reports it as a cancelled error. Network
// reads through hostnet also fail once the host cancels. ctx also carries
// the host, so Log, StateGet, StatePut and hostnet.Dial must be given the
// ctx the SDK passed in (or one derived from it).
//
// # Errors
//
// Return *Error values (ConfigError, TransientNetworkError, ...) to
// classify failures; an unclassified error is reported as internal, and a
// panic is recovered and reported as an internal error. The SDK never
// returns a silent failure to the host.
//
// # Memory and batches
//
// Sources fill a batch.Builder obtained from Emitter.Schema and pass it to
// Emitter.Emit, which hands the buffers to the host and resets the builder;
// the builder is owned by the SDK and reused. Destinations get batch.Views
// from BatchIterator.Next that alias an SDK-owned buffer valid until the
// next call to Next.
package sdk

import (
	"context"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// Connector is what Serve runs: a Source, a Destination, or both. For
// discover and check the Source is used when present (unless the request
// names the destination role), otherwise the Destination.
type Connector struct {
	Source      Source
	Destination Destination
}

// Source reads streams.
type Source interface {
	// Open validates the config (return a ConfigError naming the field on
	// bad input) and may connect. It runs before every operation.
	Open(ctx context.Context, cfg Config) error
	// Discover lists the readable streams. Every Column.ArrowType must
	// parse with abi.ParseType.
	Discover(ctx context.Context) (*abi.Catalog, error)
	// Check verifies that the source can connect and read with its config.
	Check(ctx context.Context) error
	// Read reads one stream (or one partition): it calls e.Schema once,
	// then appends rows to the builder and calls e.Emit whenever it is
	// Full and once at the end, and e.Checkpoint after the batches each
	// checkpoint covers. It returns nil at the end of the stream.
	//
	// Read must honour req.Stream: its projection (Columns), sync mode and,
	// when the manifest declares capabilities.partitions, its Partition.
	// The platform checks what it can without trusting the connector: the
	// coordinator runs a stream only if Discover lists it with the sync
	// mode asked for, and plans partitions only for a source that declares
	// them; the host drops columns the stream did not ask for and splits a
	// batch over the stream's limits (refusing a single row over
	// max_batch_bytes). Honouring them in the connector is still cheaper.
	Read(ctx context.Context, req ReadRequest, e Emitter) error
	// Close releases everything; it runs after Open (even a failed one)
	// and after the operation, whatever its outcome.
	Close(ctx context.Context) error
}

// Destination writes streams.
type Destination interface {
	// Open validates the config and may connect.
	Open(ctx context.Context, cfg Config) error
	// Check verifies that the destination can connect and write.
	Check(ctx context.Context) error
	// Write consumes batches from it until Next returns io.EOF and calls
	// it.Commit each time the rows received so far are durable (at least
	// once at the end). The host acknowledges a checkpoint only after a
	// Commit covering its batch.
	Write(ctx context.Context, req WriteRequest, it BatchIterator) error
	// Close releases everything; it always runs after Open.
	Close(ctx context.Context) error
}

// CheckNoter is implemented by a connector whose successful Check has
// something the user should see (leftovers to clean up, a degraded
// setting). After Check returned nil, a non-empty CheckNote replaces "ok"
// as the check's message.
type CheckNoter interface {
	CheckNote() string
}

// Releaser is implemented by a Source that holds server-side resources
// for a pipeline's change stream (PostgreSQL: a replication slot and a
// publication). Release drops them (what is already gone is fine) and
// returns what it did, for the user; it fails when they are in use.
// `rapidbyte cdc drop` reaches it through a release-mode check.
type Releaser interface {
	Release(ctx context.Context, pipeline string) (string, error)
}

// NamedDiscoverer is implemented by a Source that can list just the
// streams a caller names (a pipeline's), so that planning a run costs the
// pipeline's streams rather than every stream of the source. DiscoverNamed
// replaces Discover when the request names streams; a name the source does
// not have is left out, as Discover would leave it out.
type NamedDiscoverer interface {
	DiscoverNamed(ctx context.Context, names []string) (*abi.Catalog, error)
}

// StreamChecker is implemented by a Destination that reports, during
// check, how the streams a pipeline will write differ from what it holds
// (schema drift). CheckStreams runs after Check; its message is added to
// the check's message, and an error fails the check.
type StreamChecker interface {
	CheckStreams(ctx context.Context, streams []abi.StreamSchema) (string, error)
}

// ReadRequest describes the stream a Source.Read reads.
type ReadRequest struct {
	// Stream is the stream, with its sync mode, cursor and partition.
	Stream abi.StreamSpec
	// Resume is the last acknowledged checkpoint (nil on a fresh start).
	Resume *abi.Checkpoint
	// MaxBatchRows and MaxBatchBytes are the resolved batch limits the
	// builder from Emitter.Schema is sized with.
	MaxBatchRows, MaxBatchBytes int
}

// WriteRequest describes the stream a Destination.Write writes.
type WriteRequest struct {
	// Stream is the stream, with its write mode, primary key and
	// destination table.
	Stream abi.StreamSpec
	// Schema is the schema of every batch; nil when the input stream is
	// empty.
	Schema *batch.Schema
	// Resume is the checkpoint the source resumes after in this attempt
	// (nil on a fresh start): the first row of the input is the first row
	// after it.
	Resume *abi.Checkpoint
}

// Emitter hands a Source's output to the host. It is not safe for
// concurrent use.
type Emitter interface {
	// Schema declares the stream's schema (once, before any batch) and
	// returns the builder to fill, sized by the request's limits. The
	// builder is owned by the SDK; Emit resets it.
	Schema(fields []abi.Field) (*batch.Builder, error)
	// Emit hands the builder's rows to the host (the host copies them)
	// and resets the builder. An empty builder is not emitted.
	Emit(b *batch.Builder) error
	// Checkpoint records that every row emitted so far is covered by cp.
	// The host attaches it to the last emitted batch.
	Checkpoint(cp abi.Checkpoint) error
}

// BatchIterator gives a Destination its input. It is not safe for
// concurrent use.
type BatchIterator interface {
	// Schema returns the stream's schema (nil when the stream is empty).
	Schema() *batch.Schema
	// Next returns the next batch, or io.EOF at the end. The view aliases a
	// buffer owned by the SDK and is valid until the next call to Next, or,
	// when Kept reported true before that call, until the one after it.
	Next(ctx context.Context) (*batch.View, error)
	// Kept reports whether the batch Next returned last stays valid through
	// the next call to Next (its frame is at most KeepFrameBytes): a
	// destination can then read it while the next batch is delivered, to
	// name a row its database rejected after it moved on.
	Kept() bool
	// Commit tells the host that every row of the batches returned so far
	// is durably written; the host then acknowledges the latest checkpoint
	// those batches carried.
	Commit() error
	// CommitWith is Commit that also reports info, such as how many of the
	// records returned so far the destination rejected.
	CommitWith(info abi.CommitInfo) error
	// Checkpoint returns the latest checkpoint carried by the batches
	// returned so far, or nil.
	Checkpoint() *abi.Checkpoint
	// ReportCommitted tells the host, before the first Next, that the
	// destination already holds every row up to cp (a position later than
	// WriteRequest.Resume): the host acknowledges cp, so the coordinator
	// resumes the source after it. The write should then fail with a
	// ResumeAheadError instead of reading.
	ReportCommitted(cp abi.Checkpoint) error
}
