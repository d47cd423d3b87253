package store

import "errors"

var (
	// ErrNotFound means the run, attempt or cursor does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write contradicts stored state: a duplicate run
	// id or attempt number, or an idempotency key reused for a different
	// pipeline.
	ErrConflict = errors.New("conflict")
)

// ErrInvalid means an argument is malformed, e.g. a bad page token.
var ErrInvalid = errors.New("invalid argument")
