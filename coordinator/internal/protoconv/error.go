package protoconv

import (
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
)

var categoryToProto = map[retry.Category]rapidbytev1.ErrorCategory{
	retry.CategoryConfig:           rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG,
	retry.CategoryAuth:             rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH,
	retry.CategoryPermission:       rapidbytev1.ErrorCategory_ERROR_CATEGORY_PERMISSION,
	retry.CategoryRateLimit:        rapidbytev1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT,
	retry.CategoryTransientNetwork: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK,
	retry.CategoryTransientDB:      rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB,
	retry.CategoryData:             rapidbytev1.ErrorCategory_ERROR_CATEGORY_DATA,
	retry.CategorySchema:           rapidbytev1.ErrorCategory_ERROR_CATEGORY_SCHEMA,
	retry.CategoryInternal:         rapidbytev1.ErrorCategory_ERROR_CATEGORY_INTERNAL,
	retry.CategoryCancelled:        rapidbytev1.ErrorCategory_ERROR_CATEGORY_CANCELLED,
}

var categoryFromProto = invert(categoryToProto)

var commitToProto = map[retry.CommitState]rapidbytev1.CommitState{
	retry.CommitBefore:         rapidbytev1.CommitState_COMMIT_STATE_BEFORE_COMMIT,
	retry.CommitAfterUnknown:   rapidbytev1.CommitState_COMMIT_STATE_AFTER_COMMIT_UNKNOWN,
	retry.CommitAfterConfirmed: rapidbytev1.CommitState_COMMIT_STATE_AFTER_COMMIT_CONFIRMED,
}

var commitFromProto = invert(commitToProto)

var scopeToProto = map[retry.Scope]rapidbytev1.ErrorScope{
	retry.ScopeStream: rapidbytev1.ErrorScope_ERROR_SCOPE_STREAM,
	retry.ScopeBatch:  rapidbytev1.ErrorScope_ERROR_SCOPE_BATCH,
	retry.ScopeRecord: rapidbytev1.ErrorScope_ERROR_SCOPE_RECORD,
}

var scopeFromProto = invert(scopeToProto)

var classToProto = map[retry.Class]rapidbytev1.BackoffClass{
	retry.ClassFast:   rapidbytev1.BackoffClass_BACKOFF_CLASS_FAST,
	retry.ClassNormal: rapidbytev1.BackoffClass_BACKOFF_CLASS_NORMAL,
	retry.ClassSlow:   rapidbytev1.BackoffClass_BACKOFF_CLASS_SLOW,
}

var classFromProto = invert(classToProto)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// ErrorToProto converts a domain error; nil stays nil.
func ErrorToProto(e *retry.ConnectorError) *rapidbytev1.ConnectorError {
	if e == nil {
		return nil
	}
	cat, ok := categoryToProto[e.Category]
	if !ok {
		cat = rapidbytev1.ErrorCategory_ERROR_CATEGORY_INTERNAL
	}
	return &rapidbytev1.ConnectorError{
		Category:     cat,
		Code:         e.Code,
		Message:      e.Message,
		Retryable:    e.Retryable,
		SafeToRetry:  e.SafeToRetry,
		CommitState:  commitToProto[e.CommitState],
		RetryAfterMs: e.RetryAfterMs,
		Scope:        scopeToProto[e.Scope],
		BackoffClass: classToProto[e.BackoffClass],
		Connector:    e.Connector,
		Hint:         e.Hint,
	}
}

// ErrorFromProto converts a proto error; nil stays nil. An unspecified
// category becomes internal.
func ErrorFromProto(p *rapidbytev1.ConnectorError) *retry.ConnectorError {
	if p == nil {
		return nil
	}
	cat, ok := categoryFromProto[p.GetCategory()]
	if !ok {
		cat = retry.CategoryInternal
	}
	return &retry.ConnectorError{
		Category:     cat,
		Code:         p.GetCode(),
		Message:      p.GetMessage(),
		Retryable:    p.GetRetryable(),
		SafeToRetry:  p.GetSafeToRetry(),
		CommitState:  commitFromProto[p.GetCommitState()],
		RetryAfterMs: p.GetRetryAfterMs(),
		Scope:        scopeFromProto[p.GetScope()],
		BackoffClass: classFromProto[p.GetBackoffClass()],
		Connector:    p.GetConnector(),
		Hint:         p.GetHint(),
	}
}
