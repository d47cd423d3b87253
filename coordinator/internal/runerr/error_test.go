package runerr_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

func TestClassify(t *testing.T) {
	ce := runerr.New(runerr.CategoryAuth, "AUTH_FAILED", "bad password for %s", "app")
	tests := []struct {
		name string
		err  error
		want *runerr.ConnectorError
	}{
		{"nil", nil, nil},
		{"wrapped connector error", errors.Join(errors.New("ctx"), ce), ce},
		{"cancelled", context.Canceled, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED", Message: "context canceled"}},
		{"deadline", context.DeadlineExceeded, &runerr.ConnectorError{Category: runerr.CategoryTransientNetwork, Code: "DEADLINE_EXCEEDED", Message: "context deadline exceeded", Retryable: true, SafeToRetry: true}},
		{"other", errors.New("boom"), &runerr.ConnectorError{Category: runerr.CategoryInternal, Code: "INTERNAL", Message: "boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runerr.Classify(tt.err)); diff != "" {
				t.Errorf("Classify (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("cancelled is context.Canceled", func(t *testing.T) {
		if !errors.Is(runerr.Classify(context.Canceled), context.Canceled) {
			t.Error("errors.Is(cancelled, context.Canceled) = false")
		}
	})
	t.Run("rate limit defaults to slow", func(t *testing.T) {
		e := runerr.New(runerr.CategoryRateLimit, "X", "y")
		if !e.Retryable || !e.SafeToRetry || e.BackoffClass != runerr.ClassSlow {
			t.Errorf("New(rate_limit) = %+v", e)
		}
	})
}
