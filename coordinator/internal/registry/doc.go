// Package registry finds connector modules (*.wasm with an embedded
// manifest) in the coordinator's connectors directories, so the coordinator
// can list them and serve them to workers by digest or id[@version].
package registry
