// Package runerr is the coordinator's error model: ConnectorError, the
// classified failure of a run attempt (from a connector, a worker or the
// coordinator itself), with its category, commit state, scope and backoff
// class. Workers' statuses become ConnectorErrors in workerpool.FromStatus;
// the gRPC API turns them back into statuses in grpcapi/status.go; package
// retry decides from them whether an attempt is tried again.
package runerr
