// Package store persists the coordinator's state: runs (with their
// idempotency keys), attempts, per-stream results, cursors, and the
// pipeline leases that give each pipeline at most one active run and tell
// coordinators which runs they drive (see Store.AcquireLease).
//
// Open picks an implementation from a URL: SQLite (pure Go driver, WAL
// mode) for a single coordinator, PostgreSQL for several. Both share one
// SQL implementation and one test suite (storetest), and apply versioned,
// embedded migrations on open.
//
// The store saves exactly what it is given. It never resolves or
// redacts anything: callers pass pipeline YAML with ${VAR} references
// unresolved (and literal secrets redacted) and connector errors whose
// messages carry no secrets.
package store
