// Package pipeline parses and validates pipeline YAML (DESIGN §3) into
// domain types.
//
// Parse reports every problem at once, each with its line and column, as a
// *ValidationError. ${VAR} references are checked at parse time but
// connector configs keep them unresolved, so the coordinator can store the
// submitted YAML (or the parsed Pipeline) in run history without secrets and
// call Pipeline.Resolve only when it dispatches work to a worker. Redact
// masks secret values before a config is logged or returned by an API.
package pipeline
