package coord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Failure is a classified failure reported by a connector, a worker or the coordinator.
type Failure struct {
	// Category classifies the failure in snake case, for example "auth" or "transient_network".
	Category string `json:"category"`
	// Code is a short machine-readable code such as "AUTH_FAILED".
	Code string `json:"code,omitempty"`
	// Message explains the failure; it never contains secrets.
	Message string `json:"message"`
	// Hint is an actionable suggestion, if any.
	Hint string `json:"hint,omitempty"`
	// Connector is the id of the connector that failed, if any.
	Connector string `json:"connector,omitempty"`
	// Retryable says whether the same work may succeed if tried again.
	Retryable bool `json:"retryable"`
	// SafeToRetry is false when a retry could duplicate committed data.
	SafeToRetry bool `json:"safe_to_retry"`
	// CommitState says whether data may have been committed, in snake case; empty when irrelevant.
	CommitState string `json:"commit_state,omitempty"`
}

// FailureFromProto converts a ConnectorError; it returns nil for nil.
func FailureFromProto(e *rapidbytev1.ConnectorError) *Failure {
	if e == nil {
		return nil
	}
	cat := e.GetCategory()
	if cat == rapidbytev1.ErrorCategory_ERROR_CATEGORY_UNSPECIFIED {
		cat = rapidbytev1.ErrorCategory_ERROR_CATEGORY_INTERNAL
	}
	commit := ""
	if e.GetCommitState() != rapidbytev1.CommitState_COMMIT_STATE_UNSPECIFIED {
		commit = EnumName(e.GetCommitState().String(), "COMMIT_STATE_")
	}
	return &Failure{
		Category:    EnumName(cat.String(), "ERROR_CATEGORY_"),
		Code:        e.GetCode(),
		Message:     e.GetMessage(),
		Hint:        e.GetHint(),
		Connector:   e.GetConnector(),
		Retryable:   e.GetRetryable(),
		SafeToRetry: e.GetSafeToRetry(),
		CommitState: commit,
	}
}

// EnumName turns a proto enum name into lower snake case without its prefix:
// EnumName("ERROR_CATEGORY_AUTH", "ERROR_CATEGORY_") is "auth".
func EnumName(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

// Error is a coordinator call that failed with a gRPC status.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message.
	Message string
	// Failure is the ConnectorError carried in the status details, if any.
	Failure *Failure
}

// Error implements error.
func (e *Error) Error() string {
	if e.Failure != nil && e.Failure.Message != "" {
		return e.Failure.Message
	}
	return e.Message
}

// UnreachableError says the coordinator could not be reached at all.
type UnreachableError struct {
	// Addr is the coordinator address.
	Addr string
	// Err is why the connection failed.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach coordinator at %s: %s", e.Addr, shortReason(e.Err))
}

// Unwrap returns the cause.
func (e *UnreachableError) Unwrap() error { return e.Err }

// FromStatus is the client-side chokepoint that maps an error returned by a
// CoordinatorService call to an *Error (with its ConnectorError details decoded).
// It returns nil for nil, io.EOF as is, and context errors as context errors.
func FromStatus(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		return context.Canceled
	case codes.OK:
		return nil
	}
	out := &Error{Code: st.Code(), Message: st.Message()}
	for _, d := range st.Details() {
		if ce, ok := d.(*rapidbytev1.ConnectorError); ok {
			out.Failure = FailureFromProto(ce)
			break
		}
	}
	return out
}

// shortReason trims the layers gRPC and net add to a dial error, so that
// "dial tcp 127.0.0.1:1: connect: connection refused" reads "connection refused".
func shortReason(err error) string {
	if err == nil {
		return "unknown error"
	}
	msg := err.Error()
	for _, marker := range []string{"connect: ", "dial tcp: ", "desc = "} {
		if i := strings.LastIndex(msg, marker); i >= 0 {
			msg = msg[i+len(marker):]
		}
	}
	return strings.TrimSpace(msg)
}
