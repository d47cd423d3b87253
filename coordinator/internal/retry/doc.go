// Package retry decides whether and when a failed run attempt is tried
// again (DESIGN §6), as pure logic over a runerr.ConnectorError and an
// injectable Clock.
//
// The coordinator's service layer maps the proto ConnectorError carried in
// gRPC status details to runerr.ConnectorError at the transport, asks a Policy for a
// Decision, and waits with Sleep, which ends early when the run is cancelled.
package retry
