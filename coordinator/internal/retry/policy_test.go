package retry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// noJitter makes Rand return the midpoint, so delays are exact.
func noJitter() float64 { return 0.5 }

func secs(s ...int) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func transient(class runerr.Class) runerr.ConnectorError {
	return runerr.ConnectorError{
		Category: runerr.CategoryTransientDB, Retryable: true, SafeToRetry: true, BackoffClass: class,
	}
}

func TestDecideBackoffSequence(t *testing.T) {
	tests := []struct {
		name  string
		class runerr.Class
		max   int
		want  []time.Duration
	}{
		{"normal doubles from 1s", runerr.ClassNormal, 4, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"empty class is normal", "", 3, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"fast starts at 100ms", runerr.ClassFast, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"slow starts at 5s", runerr.ClassSlow, 3, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second}},
		{"capped at 60s", runerr.ClassSlow, 6, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 60 * time.Second, 60 * time.Second}},
		{"normal capped at 60s", runerr.ClassNormal, 9, secs(1, 2, 4, 8, 16, 32, 60, 60, 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := retry.Policy{MaxRetries: tt.max, Rand: noJitter}
			var got []time.Duration
			for attempt := 1; ; attempt++ {
				ok, d, reason := p.Decide(attempt, transient(tt.class))
				if !ok {
					if attempt != tt.max+1 {
						t.Fatalf("stopped at attempt %d (%s), want %d attempts", attempt, reason, tt.max+1)
					}
					if !strings.Contains(reason, "exhausted") {
						t.Errorf("reason = %q, want retries exhausted", reason)
					}
					break
				}
				got = append(got, d)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideJitter(t *testing.T) {
	tests := []struct {
		name   string
		rand   float64
		jitter float64
		want   time.Duration
	}{
		{"low end is -20%", 0, 0, 800 * time.Millisecond},
		{"high end is +20%", 1, 0, 1200 * time.Millisecond},
		{"midpoint is exact", 0.5, 0, time.Second},
		{"custom jitter", 0, 0.5, 500 * time.Millisecond},
		{"negative jitter disables", 0, -1, time.Second},
		{"bad rand is clamped", 7, 0, 1200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := retry.Policy{MaxRetries: 3, Jitter: tt.jitter, Rand: func() float64 { return tt.rand }}
			_, d, _ := p.Decide(1, transient(runerr.ClassNormal))
			if d != tt.want {
				t.Errorf("delay = %v, want %v", d, tt.want)
			}
		})
	}
	t.Run("default rand stays in bounds", func(t *testing.T) {
		p := retry.Policy{MaxRetries: 100}
		for i := 0; i < 200; i++ {
			_, d, _ := p.Decide(7, transient(runerr.ClassNormal))
			if d < 48*time.Second || d > 72*time.Second {
				t.Fatalf("delay %v outside 60s ±20%%", d)
			}
		}
	})
}

func TestDecideRetryAfterOverrides(t *testing.T) {
	tests := []struct {
		name string
		ms   uint64
		want time.Duration
	}{
		{"hint shorter than backoff", 250, 250 * time.Millisecond},
		{"hint longer than cap", 90_000, 90 * time.Second},
		{"absurd hint capped", 1 << 62, retry.MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *runerr.New(runerr.CategoryRateLimit, "THROTTLED", "slow down")
			e.RetryAfterMs = tt.ms
			ok, d, reason := retry.Policy{MaxRetries: 3, Rand: func() float64 { return 0 }}.Decide(3, e)
			if !ok || d != tt.want {
				t.Errorf("Decide = %v, %v (%s), want true, %v", ok, d, reason, tt.want)
			}
		})
	}
}

func TestDecideNeverRetries(t *testing.T) {
	p := retry.Policy{MaxRetries: 5, Rand: noJitter}
	for _, cat := range []runerr.Category{
		runerr.CategoryConfig, runerr.CategoryAuth, runerr.CategoryPermission, runerr.CategorySchema,
		runerr.CategoryData, runerr.CategoryInternal, runerr.CategoryCancelled, "", "bogus",
	} {
		t.Run("category "+string(cat), func(t *testing.T) {
			// Even a connector that (wrongly) flags these retryable is not retried.
			e := runerr.ConnectorError{Category: cat, Retryable: true, SafeToRetry: true}
			if ok, _, reason := p.Decide(1, e); ok {
				t.Errorf("retried a %q error", cat)
			} else if !strings.Contains(reason, "not retried") {
				t.Errorf("reason = %q", reason)
			}
		})
	}
	flags := []struct {
		name string
		mut  func(*runerr.ConnectorError)
		want string
	}{
		{"not retryable", func(e *runerr.ConnectorError) { e.Retryable = false }, "not retryable"},
		{"not safe to retry", func(e *runerr.ConnectorError) { e.SafeToRetry = false }, "not safe"},
		{"after commit unknown", func(e *runerr.ConnectorError) { e.CommitState = runerr.CommitAfterUnknown }, "commit outcome unknown"},
	}
	for _, f := range flags {
		t.Run(f.name, func(t *testing.T) {
			e := transient(runerr.ClassNormal)
			f.mut(&e)
			if ok, _, reason := p.Decide(1, e); ok || !strings.Contains(reason, f.want) {
				t.Errorf("Decide = %v (%q), want false (%q)", ok, reason, f.want)
			}
		})
	}
	t.Run("before commit retries", func(t *testing.T) {
		e := transient(runerr.ClassNormal)
		e.CommitState = runerr.CommitBefore
		if ok, _, _ := p.Decide(1, e); !ok {
			t.Error("before_commit error not retried")
		}
	})
	t.Run("zero policy never retries", func(t *testing.T) {
		if ok, _, _ := (retry.Policy{}).Decide(1, transient(runerr.ClassNormal)); ok {
			t.Error("zero Policy retried")
		}
	})
}

func TestLostWorkerRetries(t *testing.T) {
	e := runerr.LostWorker("10.0.0.7:7071", errors.New("connection reset"))
	ok, d, _ := retry.Policy{MaxRetries: 3, Rand: noJitter}.Decide(1, *e)
	if !ok || d != 100*time.Millisecond {
		t.Errorf("Decide = %v, %v; want true, 100ms", ok, d)
	}
	if !strings.Contains(e.Error(), "transient_network") || !strings.Contains(e.Error(), "10.0.0.7:7071") {
		t.Errorf("Error() = %q", e.Error())
	}
}

// TestGuestDeadlineVerdicts: a worker's "the guest returned after its
// deadline" is retried and is a deadline verdict; "the guest ignored its
// deadline and was abandoned" is never retried and is not.
func TestGuestDeadlineVerdicts(t *testing.T) {
	p := retry.Policy{MaxRetries: 3}
	returned := runerr.ConnectorError{Category: runerr.CategoryTransientNetwork, Code: runerr.CodeDeadline, Retryable: true, SafeToRetry: true}
	runaway := runerr.ConnectorError{Category: runerr.CategoryInternal, Code: runerr.CodeUnresponsive, Hint: "fix the connector"}
	connectorTimeout := runerr.ConnectorError{Category: runerr.CategoryTransientNetwork, Code: "timeout", Retryable: true, SafeToRetry: true}
	if d := p.Decision(1, returned); !d.Retry || !returned.DeadlineVerdict() {
		t.Errorf("returned after the deadline: %+v, verdict %v", d, returned.DeadlineVerdict())
	}
	if d := p.Decision(1, runaway); d.Retry || runaway.DeadlineVerdict() {
		t.Errorf("runaway guest: %+v, verdict %v", d, runaway.DeadlineVerdict())
	}
	if d := p.Decision(1, connectorTimeout); !d.Retry || connectorTimeout.DeadlineVerdict() {
		t.Errorf("a connector's own network timeout: %+v, verdict %v", d, connectorTimeout.DeadlineVerdict())
	}
	if !runerr.Classify(context.DeadlineExceeded).DeadlineVerdict() {
		t.Error("DEADLINE_EXCEEDED is not a deadline verdict")
	}
}
