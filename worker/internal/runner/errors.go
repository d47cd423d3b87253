package runner

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidRequest means the request itself is malformed or asks a module
// for a role it does not have.
var ErrInvalidRequest = errors.New("invalid request")

// ErrCopyOverBudget means a stream's two halves could not be admitted on
// one worker at once (AdmitCopy), however idle it were: their memory
// reservations together exceed its whole budget, though each fits alone.
var ErrCopyOverBudget = errors.New("both halves of the stream do not fit the worker's guest memory budget at once")

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
