package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/proto/statusmap"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
)

// This file is the only one in the worker that builds gRPC statuses.
//
// Connector failures (guest.Error) map by category through the table both
// servers share, proto/statusmap (auth and permission are PermissionDenied;
// Unauthenticated is kept for the worker's own bearer-token check).
//
// Worker-side failures: an invalid request or reference -> InvalidArgument;
// an unknown module -> NotFound; a digest mismatch -> FailedPrecondition; an
// unreachable registry -> Unavailable; every guest slot busy ->
// ResourceExhausted with retry_after_ms; a cancelled call -> Canceled; a
// deadline -> DeadlineExceeded (retryable). Every status except
// Unauthenticated and Unimplemented carries a rapidbyte.v1.ConnectorError in
// its details. Anything else is an internal error: it is logged here, once,
// and the client sees only "internal error".

// errInvalid marks malformed tickets and requests built in this package.
var errInvalid = errors.New("invalid request")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// toStatus maps err to a gRPC status error; log receives internal errors.
func toStatus(log hclog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var (
		ge   *guest.Error
		busy *runner.BusyError
	)
	switch {
	case errors.As(err, &ge):
		ce := protoconv.ErrorToProto(ge.Envelope, ge.Connector)
		msg := ge.Envelope.Message
		if msg == "" {
			msg = ge.Envelope.Code
		}
		log.Info("connector failed", "connector", ge.Connector, "op", ge.Op, "category", ge.Envelope.Category, "code", ge.Envelope.Code)
		return withDetail(statusmap.Code(ce.GetCategory()), fmt.Sprintf("connector %s %s: %s", ge.Connector, ge.Op, msg), ce)
	case errors.As(err, &busy):
		return withDetail(codes.ResourceExhausted, err.Error(), &rbv1.ConnectorError{
			Category: rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT, Code: "WORKER_BUSY", Message: err.Error(),
			Retryable: true, SafeToRetry: true, CommitState: rbv1.CommitState_COMMIT_STATE_BEFORE_COMMIT,
			RetryAfterMs: uint64(busy.RetryAfter.Milliseconds()), Hint: "lower resources.parallelism or add workers",
		})
	case errors.Is(err, runner.ErrCopyOverBudget):
		// The coordinator runs the stream's halves on two workers instead
		// (see CopyStream in worker.proto).
		return withDetail(codes.InvalidArgument, err.Error(), &rbv1.ConnectorError{
			Category: rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: copyOverBudget, Message: err.Error(),
			CommitState: rbv1.CommitState_COMMIT_STATE_BEFORE_COMMIT, Hint: "lower resources.max_memory, or give workers more memory",
		})
	case errors.Is(err, errInvalid), errors.Is(err, runner.ErrInvalidRequest), errors.Is(err, modules.ErrInvalidRef):
		return withDetail(codes.InvalidArgument, err.Error(), configError("INVALID_REQUEST", err))
	case errors.Is(err, modules.ErrNotFound):
		return withDetail(codes.NotFound, err.Error(), configError("CONNECTOR_NOT_FOUND", err))
	case errors.Is(err, modules.ErrInvalidModule):
		return withDetail(codes.FailedPrecondition, err.Error(), configError("INVALID_MODULE", err))
	case errors.Is(err, modules.ErrDigestMismatch):
		return withDetail(codes.FailedPrecondition, err.Error(), configError("DIGEST_MISMATCH", err))
	case errors.Is(err, modules.ErrRegistryUnavailable):
		return withDetail(codes.Unavailable, err.Error(), transientError("REGISTRY_UNAVAILABLE", err))
	case errors.Is(err, context.Canceled):
		return withDetail(codes.Canceled, "cancelled", &rbv1.ConnectorError{
			Category: rbv1.ErrorCategory_ERROR_CATEGORY_CANCELLED, Code: "CANCELLED", Message: "cancelled",
		})
	case errors.Is(err, context.DeadlineExceeded):
		return withDetail(codes.DeadlineExceeded, "deadline exceeded", transientError("DEADLINE_EXCEEDED", errors.New("deadline exceeded")))
	default:
		log.Error("internal error", "error", err)
		return withDetail(codes.Internal, "internal error", &rbv1.ConnectorError{
			Category: rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, Code: "INTERNAL", Message: "internal error",
		})
	}
}

func configError(code string, err error) *rbv1.ConnectorError {
	return &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: code, Message: err.Error()}
}

func transientError(code string, err error) *rbv1.ConnectorError {
	return &rbv1.ConnectorError{
		Category: rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, Code: code, Message: err.Error(),
		Retryable: true, SafeToRetry: true,
	}
}

func withDetail(code codes.Code, msg string, ce *rbv1.ConnectorError) error {
	st := status.New(code, msg)
	if withCE, err := st.WithDetails(ce); err == nil {
		st = withCE
	}
	return st.Err()
}

// errUnauthenticated is the status of a call without a valid bearer token.
func errUnauthenticated(msg string) error { return status.Error(codes.Unauthenticated, msg) }

// errUnimplemented is the status of a Flight method the worker does not serve.
func errUnimplemented(method string) error {
	return status.Error(codes.Unimplemented, method+" is not served by rapidbyte workers (use DoGet to read and DoPut to write)")
}

// ConnectorError extracts the rapidbyte.v1.ConnectorError detail of a
// status error, or nil.
func ConnectorError(err error) *rbv1.ConnectorError {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if ce, ok := d.(*rbv1.ConnectorError); ok {
			return ce
		}
	}
	return nil
}

// PanicHandler returns the recovery interceptors' handler: a handler that
// panicked is logged here once, with its stack, and the client gets a plain
// Internal "internal error"; the server keeps serving.
func PanicHandler(log hclog.Logger) func(ctx context.Context, p any) error {
	return func(_ context.Context, p any) error {
		log.Error("panic in gRPC handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	}
}
