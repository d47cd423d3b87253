// Package grpcapi is the worker's transport: the rapidbyte.v1.WorkerService
// handlers (Spec, Check, Discover, CopyStream: a stream's read and write on
// this worker, copy.go), the Arrow Flight data plane (DoGet = read, DoPut =
// write), bearer-token interceptors, and the single place
// where errors become gRPC statuses (status.go). Handlers convert the proto
// request in, call the runner, convert the result out and map the error;
// proto types do not leave this package.
package grpcapi
