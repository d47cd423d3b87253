// Package protoconv converts between the coordinator's domain types and the
// rapidbyte.v1 proto messages. Only transport packages (relay, workerpool, grpcapi)
// import it: proto types stop there.
package protoconv
