// Package container tests the images `make images` builds (scripts/images.sh):
// the worker and coordinator images run with the Kubernetes manifests'
// securityContext (read-only root filesystem, uid 65532, every capability
// dropped, no privilege escalation), on the host network so traffic stays on
// loopback; both answer gRPC health SERVING and copy a real PostgreSQL table.
//
// It needs docker. Outside CI a machine without docker skips it; under
// CI=true a missing docker fails it (.ci/run installs docker.io and starts
// dockerd). Run with
//
//	make build wasm
//	go -C e2e test -count=1 ./container
package container
