// Package contract enforces, on the batches a source connector emits, the
// parts of the connector contract the host can check without trusting the
// guest: projection (columns the stream did not ask for are dropped) and
// batch limits (a batch over the stream's max_batch_rows or
// max_batch_bytes is split into slices that fit; a single row over
// max_batch_bytes is refused). See docs/rationale.md.
package contract
