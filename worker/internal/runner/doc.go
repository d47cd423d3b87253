// Package runner is the worker's domain service: it resolves a connector
// module, admits the operation under the concurrency limit, bounds it with
// a deadline, runs it on a fresh guest instance and records metrics. It
// knows nothing about gRPC; package grpcapi converts requests and maps the
// errors returned here.
//
// Admission: at most MaxStreams guest slots are taken at once; each guest
// takes one, except that a stream's read and write marked as one pair share
// a slot (see admitPaired). An operation that finds every slot taken waits
// up to QueueTimeout, then fails with a *BusyError carrying a retry hint. Module resolution happens before
// admission, so a missing or broken module fails fast without queueing.
package runner
