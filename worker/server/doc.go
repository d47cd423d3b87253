// Package server is the embeddable Rapidbyte worker: a stateless gRPC
// server that hosts connector modules. One port serves
// rapidbyte.v1.WorkerService (Spec, Check, Discover, and CopyStream, which
// reads a stream and writes it on this worker), the Arrow Flight data plane
// (DoGet reads a stream, DoPut writes one), gRPC health and server
// reflection. The rapidbyte-worker binary and the CLI's embedded mode both
// run it through New, Serve and Close.
package server
