package server

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the GOGC that SetDefaultGC sets. Most of a worker's
// live heap is guest memory and decoded modules, which the default GOGC=100
// lets the heap grow to twice over before collecting; the garbage is batch
// buffers (a few MiB each, allocated per batch). Measured on a 1M-row
// PostgreSQL copy in the CLI's embedded mode: peak RSS 358-423 MiB at
// GOGC=100, 328-342 MiB at 50, for about 0.25 CPU-s more garbage
// collection (3% of the run's CPU); in distributed mode the two workers
// peaked at 239+182 MiB, and 144+192 at 50.
const DefaultGCPercent = 50

// SetDefaultGC sets the garbage collector to DefaultGCPercent unless the
// GOGC environment variable sets it. The worker binary calls it first thing
// in main, and the CLI before it runs a pipeline in its embedded worker.
func SetDefaultGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
