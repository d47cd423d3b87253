package modules

import "errors"

// Sentinel errors of resolution. They are wrapped with the reference that
// failed; test them with errors.Is.
var (
	// ErrNotFound means no source (directory, cache or registry) has the module.
	ErrNotFound = errors.New("connector module not found")
	// ErrDigestMismatch means module bytes do not hash to the expected digest.
	ErrDigestMismatch = errors.New("connector module digest mismatch")
	// ErrInvalidRef means the reference is malformed (no id and no digest, bad digest syntax).
	ErrInvalidRef = errors.New("invalid connector reference")
	// ErrInvalidModule means a module file is not a Rapidbyte connector (not
	// wasm, or no manifest section).
	ErrInvalidModule = errors.New("not a valid connector module")
	// ErrRegistryUnavailable means the coordinator's registry could not be reached.
	ErrRegistryUnavailable = errors.New("connector registry unavailable")
)
