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
// Cancellation is cooperative: once ctx is done (or guest.Invocation.Timeout
// passes) every host import fails fast with -ECANCELED and is_cancelled
// returns 1, which the SDK turns into a cancelled context. An export call
// runs on its own goroutine; if the guest does not return within
// CancelGrace after ctx is done, the call returns a timeout or cancelled
// *guest.Error and the instance is abandoned (left running, never reused,
// counted by Runtime.Abandoned, reported to Config.OnAbandon). A guest
// spinning without host calls cannot be stopped inside the process and,
// worse, blocks the Go GC's stop-the-world (wazero's compiled code is not
// preemptible), freezing the process at its next GC: treat an abandonment
// as fatal for the process. Config.CloseOnContextDone compiles in wazero's
// termination checks, which stop such a guest, at 3-5x guest CPU.
package wasmhost

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultMemoryLimitMiB is the default cap of each instance's linear memory
// (Config.MemoryLimitMiB).
const DefaultMemoryLimitMiB = 512

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
	// Net is the operator's network policy over every guest dial (see
	// NetPolicy). Default: deny nothing beyond the pipeline's allow-list;
	// the worker passes DefaultDeny plus its own addresses.
	Net NetPolicy
	// Logger receives runtime events and guest output. Default: hclog.NewNullLogger().
	Logger hclog.Logger
	// OnAbandon, when set, is called with the connector id each time an
	// instance is abandoned, on the goroutine abandoning it. A guest
	// spinning without host calls cannot be preempted: it keeps a core
	// busy and blocks the Go runtime's stop-the-world, so the process
	// freezes at its next GC. A worker should stop serving and exit (to be
	// restarted) when this fires, unless CloseOnContextDone is set.
	OnAbandon func(connector string)
	// ModuleCacheBytes bounds the modules kept loaded (compiled code and
	// decoded form, estimated as ModuleCostFactor times the module's size)
	// between runs: beyond it the least recently used module is unloaded
	// (its compiled code freed once its last instance closes) and loads
	// again from the compilation cache on its next use. The module just
	// loaded always stays, whatever its cost. Default 0: no bound, every
	// module stays loaded while the runtime lives.
	ModuleCacheBytes int64
}

// ModuleCostFactor is the memory a loaded module holds per byte of module:
// a 12 MiB PostgreSQL connector measured 82 MiB more RSS once loaded
// (compiled code, the decoded module and its function bodies, and the
// module bytes kept to load it again after an eviction).
const ModuleCostFactor = 7
