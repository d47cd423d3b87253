// Package engine runs pipelines: it records submitted runs (idempotently),
// plans their streams (and partitions), relays each stream between workers
// through a relayer, persists acknowledged cursors, retries only the failed
// streams per the retry policy, honours cancellation, computes the run
// result and publishes events for watchers.
//
// The engine is pure domain logic over three small interfaces: the state
// store (runStore), the data plane (relayer) and a retry.Clock, so the
// state machine is tested with fakes.
package engine
