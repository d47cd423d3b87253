// Package relay is the coordinator's data plane: it runs one Job by opening
// a DoGet (read) and a DoPut (write) on workers of a workerpool.Pool and
// forwarding the stream's Flight messages from one to the other without
// decoding the Arrow bodies, bounded in messages and bytes (byteGate).
//
// Errors returned by this package are always *retry.ConnectorError values
// (worker errors go through workerpool.FromStatus).
package relay
