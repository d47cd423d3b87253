// Package faults holds Rapidbyte's end-to-end reliability and security
// tests: they drive the real binaries (bin/rapidbyte, bin/rapidbyte-worker,
// bin/rapidbyte-coordinator, bin/grpcurl) and connector modules against a
// real PostgreSQL and inject faults: workers killed with SIGKILL mid-stream,
// source backends terminated mid-read, a coordinator killed and restarted
// (SQLite and PostgreSQL state), bad pipelines and misbehaving guests,
// missing or wrong bearer tokens, secrets that must not leak, and a bounded
// load of concurrent runs.
//
// The package has only tests; databases use the prefix rb_e2b_. Run with
//
//	make build wasm
//	go -C e2e test -count=1 ./faults
package faults
