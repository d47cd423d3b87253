package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
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

// categoryCodes maps a ConnectorError category to the gRPC code it travels with.
var categoryCodes = map[retry.Category]codes.Code{
	retry.CategoryConfig:           codes.InvalidArgument,
	retry.CategoryAuth:             codes.Unauthenticated,
	retry.CategoryPermission:       codes.PermissionDenied,
	retry.CategoryRateLimit:        codes.ResourceExhausted,
	retry.CategoryTransientNetwork: codes.Unavailable,
	retry.CategoryTransientDB:      codes.Unavailable,
	retry.CategoryData:             codes.FailedPrecondition,
	retry.CategorySchema:           codes.FailedPrecondition,
	retry.CategoryInternal:         codes.Internal,
	retry.CategoryCancelled:        codes.Canceled,
}

// toStatus is the one place that turns a domain error into a gRPC status.
// Connector errors keep their message and travel in the status details;
// unexpected errors are logged once here and leave as a generic message.
func toStatus(log hclog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	var (
		reqErr *requestError
		valErr *pipeline.ValidationError
		ce     *retry.ConnectorError
	)
	switch {
	case errors.As(err, &reqErr):
		return status.Error(codes.InvalidArgument, reqErr.msg)
	case errors.As(err, &valErr):
		st := status.New(codes.InvalidArgument, valErr.Error())
		detail := protoconv.ErrorToProto(retry.New(retry.CategoryConfig, "INVALID_PIPELINE", "%s", valErr.Error()))
		if d, derr := st.WithDetails(detail); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, store.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, engine.ErrNotRunning):
		return status.Error(codes.Unavailable, err.Error())
	case errors.As(err, &ce):
		code, ok := categoryCodes[ce.Category]
		if !ok {
			code = codes.Internal
		}
		st := status.New(code, ce.Error())
		if d, derr := st.WithDetails(protoconv.ErrorToProto(ce)); derr == nil {
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
