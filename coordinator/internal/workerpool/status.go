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
	"github.com/rapidbyte/rapidbyte/proto/statusmap"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// FromStatus is the one place that maps an error from a worker call back to
// the domain error. what says what was being done ("read stream users on
// 10.0.0.7:7071"); it prefixes the message. A ConnectorError in the status
// details wins; otherwise the gRPC code decides:
//
//   - ctx cancelled (our own cancellation): cancelled; ctx deadline:
//     transient_network, retryable (Relay turns its own deadline, the
//     job's timeout plus PoolConfig.VerdictGrace, into internal/unresponsive)
//   - a broken stream (io.ErrUnexpectedEOF): transient_network, retryable,
//     so the attempt moves to another worker
//   - any other status, by the table the servers share (statusmap.Category):
//     Unavailable, Aborted, Canceled (by the peer), DeadlineExceeded,
//     ResourceExhausted are transient_network, retryable with fast backoff,
//     code WORKER_<CODE>; Unauthenticated is auth, PermissionDenied
//     permission; InvalidArgument, FailedPrecondition, NotFound, OutOfRange
//     config; anything else internal (code <CODE>)
func FromStatus(ctx context.Context, what string, err error) *runerr.ConnectorError {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*runerr.ConnectorError](err); ok {
		return ce
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		ce := runerr.New(runerr.CategoryTransientNetwork, "DEADLINE_EXCEEDED", "%s: deadline exceeded", what)
		ce.BackoffClass = runerr.ClassFast
		return ce
	}
	if ctx.Err() != nil {
		return &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED", Message: what + ": cancelled"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return runerr.LostWorker(what, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return &runerr.ConnectorError{Category: runerr.CategoryInternal, Code: "INTERNAL", Message: fmt.Sprintf("%s: %v", what, err)}
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
	// Without details, the shared table (proto/statusmap) classifies the code.
	cat := protoconv.CategoryFromProto(statusmap.Category(st.Code()))
	code := codeName(st.Code())
	if cat == runerr.CategoryTransientNetwork {
		code = "WORKER_" + code
	}
	ce := runerr.New(cat, code, "%s", msg)
	if cat == runerr.CategoryTransientNetwork {
		ce.BackoffClass = runerr.ClassFast
	}
	return ce
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
