package runner

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidRequest means the request itself is malformed or asks a module
// for a role it does not have.
var ErrInvalidRequest = errors.New("invalid request")

// BusyError means every guest slot stayed taken for the whole queue timeout.
type BusyError struct {
	// MaxStreams is the worker's limit.
	MaxStreams int
	// RetryAfter is how long the client should wait before retrying.
	RetryAfter time.Duration
}

// Error implements error.
func (e *BusyError) Error() string {
	return fmt.Sprintf("worker busy: all %d guest slots in use; retry after %s", e.MaxStreams, e.RetryAfter)
}
