package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantCode     codes.Code
		wantCategory rbv1.ErrorCategory
		wantErrCode  string
		wantRetry    bool
	}{
		{"nil", nil, codes.OK, 0, "", false},
		{"invalid ticket", invalidf("bad"), codes.InvalidArgument, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, "INVALID_REQUEST", false},
		{"wrong role", fmt.Errorf("x: %w", runner.ErrInvalidRequest), codes.InvalidArgument, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, "INVALID_REQUEST", false},
		{"bad ref", modules.ErrInvalidRef, codes.InvalidArgument, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, "INVALID_REQUEST", false},
		{"unknown module", fmt.Errorf("c: %w", modules.ErrNotFound), codes.NotFound, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, "CONNECTOR_NOT_FOUND", false},
		{"digest mismatch", modules.ErrDigestMismatch, codes.FailedPrecondition, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, "DIGEST_MISMATCH", false},
		{"registry down", fmt.Errorf("f: %w", modules.ErrRegistryUnavailable), codes.Unavailable, rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, "REGISTRY_UNAVAILABLE", true},
		{"busy", &runner.BusyError{MaxStreams: 2, RetryAfter: time.Second}, codes.ResourceExhausted, rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT, "WORKER_BUSY", true},
		{"memory busy", fmt.Errorf("read: %w", &runner.MemoryBusyError{Want: 512 << 20, Total: 256 << 20, RetryAfter: time.Second}), codes.ResourceExhausted, rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT, "WORKER_BUSY", true},
		{"copy over budget", fmt.Errorf("copy: %w", runner.ErrCopyOverBudget), codes.InvalidArgument, rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, copyOverBudget, false},
		{"cancelled", context.Canceled, codes.Canceled, rbv1.ErrorCategory_ERROR_CATEGORY_CANCELLED, "CANCELLED", false},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), codes.DeadlineExceeded, rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, "DEADLINE_EXCEEDED", true},
		{"connector error wins over its cause", &guest.Error{Connector: "c", Op: "read", Err: context.DeadlineExceeded,
			Envelope: abi.ErrorEnvelope{Category: "internal", Code: "timeout", Message: "timed out", Retryable: true}},
			codes.Internal, rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, "timeout", true},
		{"guest timed out cooperatively", &guest.Error{Connector: "c", Op: "read", Err: context.DeadlineExceeded,
			Envelope: abi.ErrorEnvelope{Category: abi.CategoryTransientNetwork, Code: "deadline_exceeded", Message: "rb_read timed out", Retryable: true, SafeToRetry: true}},
			codes.Unavailable, rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, "deadline_exceeded", true},
		{"runaway guest is not a retryable deadline", &guest.Error{Connector: "c", Op: "read", Err: errors.Join(context.DeadlineExceeded, errors.New("abandoned")),
			Envelope: abi.ErrorEnvelope{Category: abi.CategoryInternal, Code: "unresponsive", Message: "rb_read ran past its deadline", Hint: "fix the connector"}},
			codes.Internal, rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, "unresponsive", false},
		{"unknown category", &guest.Error{Connector: "c", Op: "read", Envelope: abi.ErrorEnvelope{Category: "weird", Code: "x", Message: "m"}},
			codes.Internal, rbv1.ErrorCategory_ERROR_CATEGORY_UNSPECIFIED, "x", false},
		{"internal", errors.New("boom"), codes.Internal, rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, "INTERNAL", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := toStatus(hclog.NewNullLogger(), tt.err)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v, want %v", got, tt.wantCode)
			}
			if tt.err == nil {
				return
			}
			ce := ConnectorError(err)
			if ce.GetCategory() != tt.wantCategory || ce.GetCode() != tt.wantErrCode || ce.GetRetryable() != tt.wantRetry {
				t.Errorf("detail = %v, want category %v code %q retryable %v", ce, tt.wantCategory, tt.wantErrCode, tt.wantRetry)
			}
			var ge *guest.Error
			if errors.As(tt.err, &ge) && ce.GetHint() != ge.Envelope.Hint {
				t.Errorf("hint = %q, want %q", ce.GetHint(), ge.Envelope.Hint)
			}
		})
	}
	busy := ConnectorError(toStatus(hclog.NewNullLogger(), &runner.BusyError{MaxStreams: 1, RetryAfter: 1500 * time.Millisecond}))
	if busy.GetRetryAfterMs() != 1500 {
		t.Errorf("retry_after_ms = %d", busy.GetRetryAfterMs())
	}
}
