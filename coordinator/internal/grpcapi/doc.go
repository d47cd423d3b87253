// Package grpcapi is the coordinator's gRPC transport: CoordinatorService
// (runs, discover, check, connectors), ConnectorRegistryService (module
// downloads for workers) and the bearer-token interceptors. Handlers convert
// the request, call the domain, convert the response and map errors through
// toStatus in status.go, the only file that builds gRPC statuses.
package grpcapi
