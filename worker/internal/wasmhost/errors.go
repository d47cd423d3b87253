package wasmhost

import (
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// Codes of the errors of calls whose deadline passed.
const (
	// CodeDeadline: the guest returned after its deadline, as asked. (Not
	// "timeout", which connectors use for their own network timeouts: the
	// coordinator tells the two apart.)
	CodeDeadline = "deadline_exceeded"
	// CodeUnresponsive: the guest ignored its deadline and was abandoned.
	CodeUnresponsive = "unresponsive"
)

// deadlineError classifies a call of export that ended because its
// deadline passed; callErr wraps ErrAbandoned when the guest did not
// return within grace.
func deadlineError(connector, op, export string, grace time.Duration, cause, callErr error) *guest.Error {
	if errors.Is(callErr, ErrAbandoned) {
		e := newError(connector, op, abi.CategoryInternal, CodeUnresponsive,
			fmt.Errorf("%s ran past its deadline and did not return within %s of being told to stop (%s): %w",
				export, grace, ErrAbandoned.Error(), errors.Join(cause, callErr)))
		e.Envelope.Hint = "the connector is stuck in a loop or a call that ignores cancellation; it is not retried, " +
			"since every retry would hang another worker: fix the connector (check is_cancelled / ctx in long loops), " +
			"or raise resources.timeout_seconds if the work is legitimately that long"
		return e
	}
	e := newError(connector, op, abi.CategoryTransientNetwork, CodeDeadline,
		fmt.Errorf("%s timed out: %w", export, errors.Join(cause, callErr)))
	e.Envelope.Retryable = true
	e.Envelope.SafeToRetry = op != string(abi.OpWrite)
	if op == string(abi.OpWrite) {
		e.Envelope.CommitState = abi.CommitAfterUnknown
	}
	return e
}

// ErrAbandoned is wrapped by errors of calls whose guest did not return
// in time; its instance was abandoned.
var ErrAbandoned = errors.New("guest did not return; instance abandoned")

// newError returns a failure the host classified itself. Every failure of
// a module load or invocation is a *guest.Error: a classified envelope (the
// guest's own, or one the host derived) plus the cause.
//
// Host-derived classifications:
//   - load failures (bad module, missing or invalid manifest, ABI
//     mismatch, missing exports, no _initialize): internal, code "load",
//     "manifest", "abi_mismatch", "missing_export" or "not_reactor"; not
//     retryable.
//   - traps, guest panics that escape the SDK, out of memory and other
//     guest exits: internal, code "trap" or "exit"; not retryable.
//   - invalid guest output (bad descriptor, out-of-range pointers, bad
//     offsets, invalid envelopes): internal, code "bad_batch",
//     "bad_envelope", ...; not retryable.
//   - a dial off the allow-list: permission, code "denied".
//   - ctx cancelled: cancelled, code "cancelled".
//   - ctx deadline or guest.Invocation.Timeout passed and the guest returned
//     when told to (typically a connector blocked on the network):
//     transient_network, code CodeDeadline, retryable; safe_to_retry except
//     for Write, where the commit state is unknown. A retry runs on a
//     fresh instance, possibly on another worker.
//   - ctx deadline passed and the guest did not return within CancelGrace
//     (a busy loop or a blocking call that ignores cancellation), so its
//     instance was abandoned: internal, code CodeUnresponsive, not
//     retryable, with a hint. Every retry of such a guest would spin on
//     another worker and take that worker out of rotation too.
func newError(connector, op, category, code string, err error) *guest.Error {
	return &guest.Error{
		Connector: connector,
		Op:        op,
		Envelope:  abi.NewErrorEnvelope(category, code, err.Error()),
		Err:       err,
	}
}
