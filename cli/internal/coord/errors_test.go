package coord

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func TestFromStatus(t *testing.T) {
	withDetails, err := status.New(codes.FailedPrecondition, "connector failed").WithDetails(protoadapt.MessageV1Of(&rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB, Code: "SERIALIZATION", Message: "could not serialize",
		Retryable: true, SafeToRetry: true, CommitState: rapidbytev1.CommitState_COMMIT_STATE_BEFORE_COMMIT, Connector: "dest-postgres",
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"nil", nil, nil},
		{"eof", io.EOF, io.EOF},
		{"cancelled", status.Error(codes.Canceled, "context canceled"), context.Canceled},
		{"plain status", status.Error(codes.NotFound, "run x not found"), &Error{Code: codes.NotFound, Message: "run x not found"}},
		{"details", withDetails.Err(), &Error{Code: codes.FailedPrecondition, Message: "connector failed", Failure: &Failure{
			Category: "transient_db", Code: "SERIALIZATION", Message: "could not serialize", Connector: "dest-postgres",
			Retryable: true, SafeToRetry: true, CommitState: "before_commit",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromStatus(tt.in)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool {
				var ea, eb *Error
				if errors.As(a, &ea) && errors.As(b, &eb) {
					return cmp.Equal(ea, eb)
				}
				return errors.Is(a, b)
			})); diff != "" {
				t.Errorf("FromStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureFromProtoUnspecifiedCategory(t *testing.T) {
	f := FailureFromProto(&rapidbytev1.ConnectorError{Message: "boom"})
	if f.Category != "internal" {
		t.Errorf("category = %q, want internal", f.Category)
	}
	if FailureFromProto(nil) != nil {
		t.Error("nil error converted to a failure")
	}
}

func TestShortReason(t *testing.T) {
	tests := map[string]string{
		"dial tcp 127.0.0.1:1: connect: connection refused":                      "connection refused",
		"dial tcp: lookup nosuch.invalid: no such host":                          "lookup nosuch.invalid: no such host",
		"rpc error: code = Unavailable desc = connection error: desc = \"boom\"": "\"boom\"",
	}
	for in, want := range tests {
		if got := shortReason(errors.New(in)); got != want {
			t.Errorf("shortReason(%q) = %q, want %q", in, got, want)
		}
	}
}
