package pgconnector

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/source"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name                   string
		err                    error
		writing                bool
		category, commit       string
		retryable, safeToRetry bool
	}{
		{"commit unknown", &dest.CommitUnknownError{Err: io.ErrUnexpectedEOF}, true, abi.CategoryTransientNetwork, abi.CommitAfterUnknown, true, false},
		{"serialization on write", fmt.Errorf("x: %w", &pgclient.PgError{Code: "40001"}), true, abi.CategoryTransientDB, abi.CommitBefore, true, true},
		{"schema", fmt.Errorf("x: %w", dest.ErrSchema), true, abi.CategorySchema, abi.CommitBefore, false, false},
		{"conversion", &source.DataError{Column: "c", Err: errors.New("bad")}, false, abi.CategoryData, "", false, false},
		{"stream config", fmt.Errorf("x: %w", source.ErrConfig), false, abi.CategoryConfig, "", false, false},
		{"bad password", &pgclient.PgError{Code: "28P01", Message: "password authentication failed password=hunter2"}, false, abi.CategoryAuth, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e *sdk.Error
			if !errors.As(classify(tc.err, "hunter2", tc.writing), &e) {
				t.Fatal("not an *sdk.Error")
			}
			env := e.Envelope
			if env.Category != tc.category || env.CommitState != tc.commit || env.Retryable != tc.retryable || (env.Retryable && env.SafeToRetry) != tc.safeToRetry {
				t.Errorf("envelope = %+v", env)
			}
			if err := env.Validate(); err != nil {
				t.Errorf("invalid envelope: %v", err)
			}
			if want := "hunter2"; contains(env.Message, want) {
				t.Errorf("message leaks the password: %s", env.Message)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
