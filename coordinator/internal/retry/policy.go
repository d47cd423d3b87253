package retry

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// base returns the class's first delay: fast 100 ms, normal 1 s, slow 5 s.
// An empty or unknown class is normal.
func base(c runerr.Class) time.Duration {
	switch c {
	case runerr.ClassFast:
		return 100 * time.Millisecond
	case runerr.ClassSlow:
		return 5 * time.Second
	default:
		return time.Second
	}
}

const (
	// MaxDelay caps the exponential backoff (before jitter).
	MaxDelay = 60 * time.Second
	// MaxRetryAfter caps a connector's retry_after_ms hint.
	MaxRetryAfter = time.Hour
	// DefaultMaxRetries is the pipeline default for resources.max_retries.
	DefaultMaxRetries = 3
	// DefaultJitter is the jitter fraction used when Policy.Jitter is zero.
	DefaultJitter = 0.2
)

// Policy is the retry policy of one run. The zero value never retries.
type Policy struct {
	// MaxRetries is how many times a run may be retried, so at most
	// MaxRetries+1 attempts happen. Negative is treated as 0.
	MaxRetries int
	// Jitter is the fraction by which a backoff delay is randomly spread,
	// e.g. 0.2 for ±20%; 0 means DefaultJitter, negative disables jitter.
	Jitter float64
	// Rand returns a float in [0, 1); nil uses math/rand/v2. Tests inject a
	// constant (0.5 means no jitter).
	Rand func() float64
}

// Decision is what a Policy decided about one failed attempt.
type Decision struct {
	// Retry is true when another attempt should be made.
	Retry bool
	// Delay is how long to wait before the next attempt (0 when !Retry).
	Delay time.Duration
	// Reason says why, in words fit for a run event or log line.
	Reason string
}

// Decide says whether a run whose attempt number attempt (counting from 1)
// failed with err should be retried, after what delay, and why.
//
// It retries iff err is retryable and safe to retry, its commit state is not
// after_commit_unknown, its category may be retried (config, auth,
// permission, schema, data, internal and cancelled never are), and
// attempt <= MaxRetries. The delay is base(class) × 2^(attempt-1), capped at
// MaxDelay, spread by the jitter; a retry_after_ms hint replaces it exactly.
func (p Policy) Decide(attempt int, err runerr.ConnectorError) (retry bool, delay time.Duration, reason string) {
	d := p.Decision(attempt, err)
	return d.Retry, d.Delay, d.Reason
}

// Decision is Decide returning a Decision value.
func (p Policy) Decision(attempt int, err runerr.ConnectorError) Decision {
	cat := err.Category
	if cat == "" {
		cat = runerr.CategoryInternal
	}
	switch {
	case !cat.Retriable():
		return Decision{Reason: fmt.Sprintf("%s errors are not retried", cat)}
	case !err.Retryable:
		return Decision{Reason: "error is not retryable"}
	case err.CommitState == runerr.CommitAfterUnknown:
		return Decision{Reason: "commit outcome unknown: retrying could duplicate data"}
	case !err.SafeToRetry:
		return Decision{Reason: "error is not safe to retry"}
	case attempt > max(p.MaxRetries, 0):
		return Decision{Reason: fmt.Sprintf("retries exhausted after %d attempts (max_retries %d)", attempt, max(p.MaxRetries, 0))}
	}
	if err.RetryAfterMs > 0 {
		d := retryAfter(err)
		return Decision{Retry: true, Delay: d, Reason: fmt.Sprintf("retry %d of %d in %s (retry-after hint)", attempt, p.MaxRetries, d)}
	}
	d := p.jitter(Backoff(err.BackoffClass, attempt))
	return Decision{Retry: true, Delay: d, Reason: fmt.Sprintf("retry %d of %d in %s (%s backoff)", attempt, p.MaxRetries, d.Round(time.Millisecond), classOrNormal(err.BackoffClass))}
}

// Backoff returns the un-jittered delay after failed attempt number attempt
// (from 1): base(class) × 2^(attempt-1), capped at MaxDelay.
func Backoff(class runerr.Class, attempt int) time.Duration {
	d := base(class)
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= MaxDelay {
			return MaxDelay
		}
	}
	return min(d, MaxDelay)
}

func (p Policy) jitter(d time.Duration) time.Duration {
	j := p.Jitter
	if j == 0 {
		j = DefaultJitter
	}
	if j < 0 {
		return d
	}
	j = min(j, 1)
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	f := min(max(r(), 0), 1) // guard against a bad Rand
	return time.Duration(float64(d) * (1 + j*(2*f-1)))
}

func classOrNormal(c runerr.Class) runerr.Class {
	switch c {
	case runerr.ClassFast, runerr.ClassSlow:
		return c
	default:
		return runerr.ClassNormal
	}
}

// retryAfter returns the error's RetryAfterMs as a duration, capped at
// MaxRetryAfter.
func retryAfter(e runerr.ConnectorError) time.Duration {
	return time.Duration(min(e.RetryAfterMs, uint64(MaxRetryAfter/time.Millisecond))) * time.Millisecond
}
