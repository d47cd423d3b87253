// Package server assembles the Rapidbyte coordinator: the state store, the
// worker pool, the connector registry, the run engine and the gRPC services
// (CoordinatorService, ConnectorRegistryService, health, reflection) on one
// listener, plus optional Prometheus metrics. The rapidbyte-coordinator
// binary and the CLI's embedded mode both use it.
package server
