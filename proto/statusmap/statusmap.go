// Package statusmap is the table between a rapidbyte.v1.ErrorCategory and
// the gRPC code a classified failure travels with, in both directions. It is
// data only: the worker's and the coordinator's status chokepoints
// (grpcapi/status.go) use Code to build statuses, and their clients use
// Category to classify a status that carries no ConnectorError detail. The
// proto module is the only one both servers and the CLI share, so the table
// lives here, once.
//
// A connector's auth failure (its database rejected its credentials) is
// PermissionDenied, never Unauthenticated: Unauthenticated is kept for a
// server rejecting the caller's bearer token, so a client can tell the two
// apart by code alone.
package statusmap

import (
	"google.golang.org/grpc/codes"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// categoryCodes maps every known category to its code.
var categoryCodes = map[rbv1.ErrorCategory]codes.Code{
	rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG:            codes.InvalidArgument,
	rbv1.ErrorCategory_ERROR_CATEGORY_AUTH:              codes.PermissionDenied,
	rbv1.ErrorCategory_ERROR_CATEGORY_PERMISSION:        codes.PermissionDenied,
	rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT:        codes.ResourceExhausted,
	rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK: codes.Unavailable,
	rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB:      codes.Unavailable,
	rbv1.ErrorCategory_ERROR_CATEGORY_DATA:              codes.FailedPrecondition,
	rbv1.ErrorCategory_ERROR_CATEGORY_SCHEMA:            codes.FailedPrecondition,
	rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL:          codes.Internal,
	rbv1.ErrorCategory_ERROR_CATEGORY_CANCELLED:         codes.Canceled,
}

// Code returns the gRPC code a failure of category c travels with
// (server side). An unspecified or unknown category is Internal.
func Code(c rbv1.ErrorCategory) codes.Code {
	if code, ok := categoryCodes[c]; ok {
		return code
	}
	return codes.Internal
}

// Category classifies a status that carries no ConnectorError (client
// side), for example one from a server's interceptor or from gRPC itself:
//
//	Unavailable, Aborted, Canceled, DeadlineExceeded,
//	ResourceExhausted                       -> transient_network (the call
//	                                           may succeed elsewhere or later)
//	Unauthenticated                         -> auth (the caller's token)
//	PermissionDenied                        -> permission
//	InvalidArgument, FailedPrecondition,
//	NotFound, OutOfRange                    -> config
//	anything else                           -> internal
//
// Canceled is transient here because a client's own cancellation is seen
// from its ctx before the status: a Canceled status without it came from
// the peer.
func Category(c codes.Code) rbv1.ErrorCategory {
	switch c {
	case codes.Unavailable, codes.Aborted, codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted:
		return rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK
	case codes.Unauthenticated:
		return rbv1.ErrorCategory_ERROR_CATEGORY_AUTH
	case codes.PermissionDenied:
		return rbv1.ErrorCategory_ERROR_CATEGORY_PERMISSION
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.OutOfRange:
		return rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG
	default:
		return rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL
	}
}
