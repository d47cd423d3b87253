package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/proto/statusmap"
)

// requestError is a problem with a request's fields.
type requestError struct{ msg string }

// Error implements error.
func (e *requestError) Error() string { return e.msg }

// badRequest returns an error that toStatus maps to InvalidArgument.
func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// errUnauthenticated is returned by the auth interceptors.
var errUnauthenticated = errors.New("missing or invalid bearer token")

// toStatus is the one place that turns a domain error into a gRPC status.
// Connector errors keep their message, travel in the status details and take
// their code from the table the worker uses too (proto/statusmap: a
// connector's auth failure is PermissionDenied; Unauthenticated is only the
// auth interceptor's answer to a bad bearer token);
// unexpected errors are logged once here and leave as a generic message.
func toStatus(log hclog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	var (
		reqErr *requestError
		valErr *pipeline.ValidationError
		ce     *runerr.ConnectorError
		active *engine.ActiveRunError
	)
	switch {
	case errors.As(err, &reqErr):
		return status.Error(codes.InvalidArgument, reqErr.msg)
	case errors.As(err, &valErr):
		st := status.New(codes.InvalidArgument, valErr.Error())
		detail := protoconv.ErrorToProto(runerr.New(runerr.CategoryConfig, "INVALID_PIPELINE", "%s", valErr.Error()))
		if d, derr := st.WithDetails(detail); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.As(err, &active):
		st := status.New(codes.FailedPrecondition, active.Error())
		detail := protoconv.ErrorToProto(&runerr.ConnectorError{Category: runerr.CategoryConfig, Code: "RUN_ACTIVE", Message: active.Error()})
		if d, derr := st.WithDetails(detail); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, store.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, engine.ErrNoChangeStream):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, engine.ErrNotRunning), errors.Is(err, engine.ErrStarting):
		return status.Error(codes.Unavailable, err.Error())
	case errors.As(err, &ce):
		pe := protoconv.ErrorToProto(ce)
		st := status.New(statusmap.Code(pe.GetCategory()), ce.Error())
		if d, derr := st.WithDetails(pe); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "request deadline exceeded")
	default:
		log.Error("request failed", "method", method, "error", err)
		return status.Error(codes.Internal, "internal error")
	}
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
