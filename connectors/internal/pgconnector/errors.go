package pgconnector

import (
	"context"
	"errors"

	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/source"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// sanitized carries a message with secrets removed while keeping the cause
// for errors.Is / errors.As.
type sanitized struct {
	msg   string
	cause error
}

func (s *sanitized) Error() string { return s.msg }
func (s *sanitized) Unwrap() error { return s.cause }

// classify turns any error of the connectors into a classified *sdk.Error
// whose message never contains the password. writing marks destination
// errors, which carry a commit state.
func classify(err error, password string, writing bool) error {
	if err == nil {
		return nil
	}
	var already *sdk.Error
	if errors.As(err, &already) {
		already.Envelope.Message = pgclient.Sanitize(already.Envelope.Message, password)
		return already
	}
	clean := &sanitized{msg: pgclient.Sanitize(err.Error(), password), cause: err}
	var opts []sdk.ErrorOption
	var unknown *dest.CommitUnknownError
	switch {
	case errors.As(err, &unknown):
		opts = append(opts, sdk.WithCommitState(abi.CommitAfterUnknown), sdk.WithCode("commit_unknown"))
	case writing:
		opts = append(opts, sdk.WithCommitState(abi.CommitBefore))
	}
	var de *source.DataError
	switch {
	case errors.Is(err, source.ErrConfig), errors.Is(err, source.ErrNotFound), errors.Is(err, dest.ErrConfig):
		return sdk.ConfigError(clean, append(opts, sdk.WithCode("invalid_stream"))...)
	case errors.Is(err, dest.ErrSchema):
		return sdk.SchemaError(clean, append(opts, sdk.WithCode("schema_mismatch"))...)
	case errors.As(err, &de), errors.Is(err, dest.ErrData):
		return sdk.DataError(clean, append(opts, sdk.WithCode("conversion"))...)
	case errors.Is(err, context.Canceled):
		return sdk.CancelledError(clean, opts...)
	}
	c := pgclient.Classify(err)
	opts = append(opts, sdk.WithCode(c.Code))
	var e *sdk.Error
	switch c.Category {
	case pgclient.CatAuth:
		e = sdk.AuthError(clean, opts...)
	case pgclient.CatPermission:
		e = sdk.PermissionError(clean, opts...)
	case pgclient.CatConfig:
		e = sdk.ConfigError(clean, opts...)
	case pgclient.CatTransientNetwork:
		e = sdk.TransientNetworkError(clean, opts...)
	case pgclient.CatTransientDB:
		e = sdk.TransientDBError(clean, opts...)
	case pgclient.CatData:
		e = sdk.DataError(clean, opts...)
	case pgclient.CatSchema:
		e = sdk.SchemaError(clean, opts...)
	case pgclient.CatCancelled:
		e = sdk.CancelledError(clean, opts...)
	default:
		e = sdk.InternalError(clean, opts...)
	}
	if !c.Retryable {
		e.Envelope.Retryable = false
	}
	if e.Envelope.CommitState == abi.CommitAfterUnknown {
		e.Envelope.SafeToRetry = false
	}
	return e
}
