// Package workerpool is the coordinator's client side of the workers: one
// connection to the set of workers (gRPC name resolution, a least-loaded
// balancer that places each call by the calls in flight per worker,
// client-side health checking, bearer-token credentials), the unary
// forwarding of Spec/Check/Discover, and the opening of streams on a worker
// (OpenStream, used by the relay).
//
// Errors from worker calls become *runerr.ConnectorError values in one place:
// FromStatus, the client-side chokepoint that maps gRPC status codes and
// ConnectorError status details back to the domain error.
package workerpool
