// Package dispatch is the coordinator's client side of the workers: a pool of
// worker connections (gRPC name resolution, round_robin, client-side health
// checking, bearer-token credentials), the unary forwarding of
// Spec/Check/Discover, and the data-plane relay that forwards one stream's
// Flight messages from a DoGet (read) to a DoPut (write) without decoding the
// Arrow bodies.
//
// Errors returned by this package are always *retry.ConnectorError values (see
// fromStatus, the one client-side chokepoint that maps gRPC status codes and
// ConnectorError status details back to the domain error).
package dispatch
