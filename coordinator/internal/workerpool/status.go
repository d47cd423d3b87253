package workerpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
)

// FromStatus is the one place that maps an error from a worker call back to
// the domain error. what says what was being done ("read stream users on
// 10.0.0.7:7071"); it prefixes the message. A ConnectorError in the status
// details wins; otherwise the gRPC code decides:
//
//   - ctx cancelled (our own cancellation): cancelled; ctx deadline:
//     transient_network, retryable (Relay turns its own deadline, the
//     job's timeout plus PoolConfig.VerdictGrace, into internal/unresponsive)
//   - Unavailable, Aborted, Canceled (by the peer), DeadlineExceeded,
//     ResourceExhausted, a broken stream (io.ErrUnexpectedEOF): transient_network,
//     retryable, so the attempt moves to another worker
//   - Unauthenticated: auth; PermissionDenied: permission
//   - InvalidArgument, FailedPrecondition, NotFound, OutOfRange: config
//   - anything else: internal
func FromStatus(ctx context.Context, what string, err error) *retry.ConnectorError {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*retry.ConnectorError](err); ok {
		return ce
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		ce := retry.New(retry.CategoryTransientNetwork, "DEADLINE_EXCEEDED", "%s: deadline exceeded", what)
		ce.BackoffClass = retry.ClassFast
		return ce
	}
	if ctx.Err() != nil {
		return &retry.ConnectorError{Category: retry.CategoryCancelled, Code: "CANCELLED", Message: what + ": cancelled"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return retry.LostWorker(what, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return &retry.ConnectorError{Category: retry.CategoryInternal, Code: "INTERNAL", Message: fmt.Sprintf("%s: %v", what, err)}
	}
	for _, d := range st.Details() {
		if pe, ok := d.(*rapidbytev1.ConnectorError); ok {
			ce := protoconv.ErrorFromProto(pe)
			if ce.Message == "" {
				ce.Message = st.Message()
			}
			ce.Message = what + ": " + ce.Message
			return ce
		}
	}
	msg := fmt.Sprintf("%s: %s", what, st.Message())
	switch st.Code() {
	case codes.Unavailable, codes.Aborted, codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted:
		ce := retry.New(retry.CategoryTransientNetwork, "WORKER_"+codeName(st.Code()), "%s", msg)
		ce.BackoffClass = retry.ClassFast
		return ce
	case codes.Unauthenticated:
		return retry.New(retry.CategoryAuth, "UNAUTHENTICATED", "%s", msg)
	case codes.PermissionDenied:
		return retry.New(retry.CategoryPermission, "PERMISSION_DENIED", "%s", msg)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.OutOfRange:
		return retry.New(retry.CategoryConfig, codeName(st.Code()), "%s", msg)
	default:
		return retry.New(retry.CategoryInternal, codeName(st.Code()), "%s", msg)
	}
}

// codeName renders a gRPC code as an upper-case error code, e.g. "DEADLINE_EXCEEDED".
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
