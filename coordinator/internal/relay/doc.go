// Package relay is the coordinator's data plane: it runs one Job as a
// CopyStream on one worker of a workerpool.Pool (the worker reads and
// writes the stream, the batches passing between its guests in memory),
// and records the batches' metadata and the destination's acks. For a
// worker that predates CopyStream it opens a DoGet (read) and a DoPut
// (write) instead and forwards the stream's Flight messages from one to
// the other without decoding the Arrow bodies, bounded in messages and
// bytes (byteGate).
//
// Errors returned by this package are always *runerr.ConnectorError values
// (worker errors go through workerpool.FromStatus).
package relay
