package runerr

import (
	"context"
	"errors"
	"fmt"
)

// Category classifies a failure; it drives the retry policy. The values are
// the lower-case names sdk/abi defines (abi.Category*), which the
// coordinator's protoconv maps from the proto enum in one place.
type Category string

// Categories, mirroring rapidbyte.v1.ErrorCategory.
const (
	CategoryConfig           Category = "config"
	CategoryAuth             Category = "auth"
	CategoryPermission       Category = "permission"
	CategoryRateLimit        Category = "rate_limit"
	CategoryTransientNetwork Category = "transient_network"
	CategoryTransientDB      Category = "transient_db"
	CategoryData             Category = "data"
	CategorySchema           Category = "schema"
	CategoryInternal         Category = "internal"
	CategoryCancelled        Category = "cancelled"
)

// Retriable reports whether errors of category c may ever be retried.
// Only rate_limit, transient_network and transient_db may; an empty or
// unknown category is treated as internal and never retried.
func (c Category) Retriable() bool {
	switch c {
	case CategoryRateLimit, CategoryTransientNetwork, CategoryTransientDB:
		return true
	default:
		return false
	}
}

// Class picks the base delay between retries (see retry.Backoff).
type Class string

// Backoff classes, mirroring rapidbyte.v1.BackoffClass; empty means normal.
const (
	ClassFast   Class = "fast"
	ClassNormal Class = "normal"
	ClassSlow   Class = "slow"
)

// CommitState says whether data may have been committed when an error happened.
type CommitState string

// Commit states, mirroring rapidbyte.v1.CommitState; the empty value means
// the error did not involve a commit.
const (
	CommitUnspecified    CommitState = ""
	CommitBefore         CommitState = "before_commit"
	CommitAfterUnknown   CommitState = "after_commit_unknown"
	CommitAfterConfirmed CommitState = "after_commit_confirmed"
)

// Scope says how much of the work an error affects.
type Scope string

// Scopes, mirroring rapidbyte.v1.ErrorScope; empty means stream.
const (
	ScopeStream Scope = "stream"
	ScopeBatch  Scope = "batch"
	ScopeRecord Scope = "record"
)

// ConnectorError is the coordinator's domain form of a classified failure
// (rapidbyte.v1.ConnectorError). It implements error and is stored as JSON
// in run history, so its JSON field names are part of the store's format.
type ConnectorError struct {
	// Category classifies the failure; empty is treated as internal.
	Category Category `json:"category"`
	// Code is a short machine-readable code such as "AUTH_FAILED".
	Code string `json:"code,omitempty"`
	// Message is a human-readable explanation; it never contains secrets.
	Message string `json:"message,omitempty"`
	// Retryable is true when the same work may succeed if tried again.
	Retryable bool `json:"retryable"`
	// SafeToRetry is false when retrying could duplicate committed data.
	SafeToRetry bool `json:"safe_to_retry"`
	// CommitState says whether data may have been committed.
	CommitState CommitState `json:"commit_state,omitempty"`
	// RetryAfterMs, when non-zero, overrides the backoff delay.
	RetryAfterMs uint64 `json:"retry_after_ms,omitempty"`
	// Scope says how much of the work is affected; empty means stream.
	Scope Scope `json:"scope,omitempty"`
	// BackoffClass picks the base delay; empty means normal.
	BackoffClass Class `json:"backoff_class,omitempty"`
	// Connector is the id of the connector that failed, if any.
	Connector string `json:"connector,omitempty"`
	// Hint is an actionable suggestion for the user.
	Hint string `json:"hint,omitempty"`
}

// Error renders the error as "[category] CODE: message".
func (e *ConnectorError) Error() string {
	cat := e.Category
	if cat == "" {
		cat = CategoryInternal
	}
	s := "[" + string(cat) + "]"
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is(err, context.Canceled) true for a cancelled-category
// error, so callers can treat it like the stdlib cancellation.
func (e *ConnectorError) Is(target error) bool {
	return target == context.Canceled && e.Category == CategoryCancelled
}

// New returns a ConnectorError of category cat whose retry flags are the
// category's defaults: rate_limit (slow backoff), transient_network and
// transient_db are retryable and safe to retry, everything else is neither.
func New(cat Category, code, format string, args ...any) *ConnectorError {
	e := &ConnectorError{Category: cat, Code: code, Message: fmt.Sprintf(format, args...)}
	if cat.Retriable() {
		e.Retryable, e.SafeToRetry = true, true
	}
	if cat == CategoryRateLimit {
		e.BackoffClass = ClassSlow
	}
	return e
}

// Codes a worker gives a guest call that ran past its deadline.
const (
	// CodeDeadline: the guest returned when its deadline passed (it was
	// blocked on the network, say, or starved by the other side of the
	// relay): transient_network, retryable.
	CodeDeadline = "deadline_exceeded"
	// CodeUnresponsive: the guest ignored its deadline and the worker
	// abandoned it (a busy loop): internal, never retried, since each
	// retry would take another worker out of rotation.
	CodeUnresponsive = "unresponsive"
)

// DeadlineVerdict reports whether e only says that a worker's deadline
// passed (code CodeDeadline from the worker, DEADLINE_EXCEEDED from its
// transport), which says nothing of why: in a relay, the other side's
// error, arriving within the worker's cancel grace, may be the cause.
func (e *ConnectorError) DeadlineVerdict() bool {
	return e.Code == CodeDeadline || e.Code == "DEADLINE_EXCEEDED"
}

// LostWorker returns the error recorded when a worker disappears mid-attempt
// (UNAVAILABLE, broken stream): transient_network, retryable, safe to retry,
// so the attempt is retried on another worker.
func LostWorker(addr string, cause error) *ConnectorError {
	msg := "worker " + addr + " lost"
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &ConnectorError{
		Category: CategoryTransientNetwork, Code: "WORKER_LOST", Message: msg,
		Retryable: true, SafeToRetry: true, BackoffClass: ClassFast,
	}
}

// CodeResumeAhead is the code of a destination's refusal to write because
// it already holds rows after the resume point; it acknowledged that
// position first, so the stream is re-dispatched from there at once.
const CodeResumeAhead = "resume_ahead"

// Classify returns err as a ConnectorError: the one in its chain if there
// is one, a cancelled error for context.Canceled, a retryable
// transient_network error for context.DeadlineExceeded (the RPC deadline
// failed the attempt; DESIGN §4), and an internal error otherwise. It
// returns nil for a nil err.
func Classify(err error) *ConnectorError {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*ConnectorError](err); ok {
		return ce
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &ConnectorError{Category: CategoryCancelled, Code: "CANCELLED", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &ConnectorError{
			Category: CategoryTransientNetwork, Code: "DEADLINE_EXCEEDED", Message: err.Error(),
			Retryable: true, SafeToRetry: true,
		}
	default:
		return &ConnectorError{Category: CategoryInternal, Code: "INTERNAL", Message: err.Error()}
	}
}
