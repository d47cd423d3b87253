// Package deploy holds the Kubernetes manifests (a kustomize base and
// overlays) and the Dockerfiles for the coordinator and the worker. Its tests
// decode every manifest strictly into k8s.io/api types and check that
// selectors, ports and probes agree, since no cluster is available to apply
// them.
package deploy
