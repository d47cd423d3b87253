// Package scale holds the horizontal scale-out end-to-end test: a real
// coordinator process dials N real worker processes (N = 1, 2, 4) through
// ONE DNS name — `--workers dns://<resolver>/workers.rapidbyte.test:<port>`,
// the gRPC dns resolver with the coordinator's least-loaded balancer and
// health checking, as against a Kubernetes headless Service — and runs an
// 8-stream pipeline. Each worker
// listens on its own loopback address (127.0.0.1, 127.0.0.2, ...) on the
// same port; a tiny in-test DNS server answers the name with all of them.
//
// The tests check that the work spreads over the workers (their Prometheus
// rapidbyte_worker_rows_total and grpc_server_started_total), that the
// per-worker rows add up to the rows moved, that the destination equals the
// source exactly, and that SIGKILLing one worker mid-run still completes the
// run (after a retry) with an exact destination. Throughput for each N is
// logged and written to $RAPIDBYTE_SCALE_JSON (default /tmp/rb-team/scale.json
// when /tmp/rb-team exists).
//
// Databases: rb_sc_*.
package scale
