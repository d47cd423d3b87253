package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Error is a classified connector error; the SDK hands its Envelope to the
// host through set_error. Use the constructors (ConfigError, ...), which
// fill the category defaults, and errors.As to inspect one.
type Error struct {
	// Envelope is what the host receives.
	Envelope abi.ErrorEnvelope
	cause    error
}

// Error returns "[category/scope] CODE (retryable|fatal): message".
func (e *Error) Error() string { return e.Envelope.String() }

// Unwrap returns the wrapped cause.
func (e *Error) Unwrap() error { return e.cause }

// ErrorOption adjusts an Error built by a constructor.
type ErrorOption func(*Error)

// WithCode sets the machine-readable code.
func WithCode(code string) ErrorOption { return func(e *Error) { e.Envelope.Code = code } }

// WithHint sets a hint for the operator.
func WithHint(hint string) ErrorOption { return func(e *Error) { e.Envelope.Hint = hint } }

// WithScope sets the scope (abi.ScopeStream, ScopeBatch, ScopeRecord).
func WithScope(scope string) ErrorOption { return func(e *Error) { e.Envelope.Scope = scope } }

// WithBackoff sets the backoff class (abi.BackoffFast, Normal, Slow).
func WithBackoff(class string) ErrorOption { return func(e *Error) { e.Envelope.BackoffClass = class } }

// WithCommitState sets the commit state (abi.CommitBefore,
// CommitAfterUnknown, CommitAfterConfirmed). abi.CommitAfterUnknown forces
// SafeToRetry to false: a retry could duplicate committed rows.
func WithCommitState(state string) ErrorOption {
	return func(e *Error) {
		e.Envelope.CommitState = state
		if state == abi.CommitAfterUnknown {
			e.Envelope.SafeToRetry = false
		}
	}
}

func newError(category string, err error, opts []ErrorOption) *Error {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	e := &Error{Envelope: abi.NewErrorEnvelope(category, "", msg), cause: err}
	for _, o := range opts {
		o(e)
	}
	if e.Envelope.CommitState == abi.CommitAfterUnknown {
		e.Envelope.SafeToRetry = false
	}
	return e
}

// ConfigError classifies err as a configuration problem (fatal).
func ConfigError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryConfig, err, opts)
}

// AuthError classifies err as an authentication failure (fatal).
func AuthError(err error, opts ...ErrorOption) *Error { return newError(abi.CategoryAuth, err, opts) }

// PermissionError classifies err as a missing permission (fatal).
func PermissionError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryPermission, err, opts)
}

// RateLimitError classifies err as rate limiting (retryable after
// retryAfter, backoff slow).
func RateLimitError(retryAfter time.Duration, err error, opts ...ErrorOption) *Error {
	e := newError(abi.CategoryRateLimit, err, opts)
	if retryAfter > 0 {
		e.Envelope.RetryAfterMs = uint64(retryAfter / time.Millisecond)
	}
	return e
}

// TransientNetworkError classifies err as a network failure (retryable).
func TransientNetworkError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryTransientNetwork, err, opts)
}

// TransientDBError classifies err as a transient database failure
// (retryable), such as a serialization failure or a dropped session.
func TransientDBError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryTransientDB, err, opts)
}

// DataError classifies err as bad data (fatal, scope record).
func DataError(err error, opts ...ErrorOption) *Error { return newError(abi.CategoryData, err, opts) }

// SchemaError classifies err as a schema mismatch (fatal).
func SchemaError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategorySchema, err, opts)
}

// InternalError classifies err as a bug or an unexpected state (fatal).
func InternalError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryInternal, err, opts)
}

// CancelledError reports that the operation was cancelled.
func CancelledError(err error, opts ...ErrorOption) *Error {
	return newError(abi.CategoryCancelled, err, opts)
}

// Classify returns err as an *Error: itself when it is (or wraps) one, a
// cancelled error for context.Canceled and context.DeadlineExceeded, and
// an internal error otherwise. It returns nil for nil.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Envelope.Message == "" {
			e.Envelope.Message = err.Error()
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CancelledError(err)
	}
	return InternalError(err)
}

// errorf is a short-hand for internal SDK failures.
func errorf(category, code, format string, args ...any) *Error {
	return newError(category, fmt.Errorf(format, args...), []ErrorOption{WithCode(code)})
}
