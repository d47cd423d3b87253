package wasmhost

import (
	"errors"
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Error is every failure of a module load or invocation: a classified
// envelope (the guest's own, or one the host derived) plus the cause.
//
// Host-derived classifications:
//   - load failures (bad module, missing or invalid manifest, ABI
//     mismatch, missing exports): internal, code "load", "manifest",
//     "abi_mismatch" or "missing_export"; not retryable.
//   - traps, guest panics that escape the SDK, out of memory and other
//     guest exits: internal, code "trap" or "exit"; not retryable.
//   - invalid guest output (bad descriptor, out-of-range pointers, bad
//     offsets, invalid envelopes): internal, code "bad_batch",
//     "bad_envelope", ...; not retryable.
//   - a dial off the allow-list: permission, code "denied".
//   - ctx cancelled: cancelled, code "cancelled".
//   - ctx deadline or Invocation.Timeout passed (including a guest that
//     never returns, whose instance is abandoned): internal, code
//     "timeout", retryable; safe_to_retry except for Write, where the
//     commit state is unknown. A retry runs on a fresh instance, possibly
//     on another worker.
type Error struct {
	// Connector is the connector id.
	Connector string
	// Op is the operation ("load", "discover", "check", "read", "write").
	Op string
	// Envelope classifies the failure.
	Envelope abi.ErrorEnvelope
	// Err is the underlying cause, if any.
	Err error
}

// Error names the connector, the operation and the reason.
func (e *Error) Error() string {
	return fmt.Sprintf("connector %q %s: %s", e.Connector, e.Op, e.Envelope.String())
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrAbandoned is wrapped by errors of calls whose guest did not return
// in time; its instance was abandoned.
var ErrAbandoned = errors.New("guest did not return; instance abandoned")

func newError(connector, op, category, code string, err error) *Error {
	return &Error{
		Connector: connector,
		Op:        op,
		Envelope:  abi.NewErrorEnvelope(category, code, err.Error()),
		Err:       err,
	}
}
