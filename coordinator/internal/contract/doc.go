// Package contract checks a pipeline against its connectors' contracts
// before any of their code runs for it: each connector config against the
// manifest's config_schema (JSON Schema), partitioning against the source
// manifest's capabilities, then (after the source's Discover) each stream
// against the catalog: the stream exists (with a suggestion when it does
// not), its sync mode is one the stream supports, and its projected
// columns exist. `check` and the run planner both use it; every problem is
// a pipeline.Problem with the YAML line it concerns.
package contract
