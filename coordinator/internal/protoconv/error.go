package protoconv

import (
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

var categoryToProto = map[runerr.Category]rapidbytev1.ErrorCategory{
	runerr.CategoryConfig:           rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG,
	runerr.CategoryAuth:             rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH,
	runerr.CategoryPermission:       rapidbytev1.ErrorCategory_ERROR_CATEGORY_PERMISSION,
	runerr.CategoryRateLimit:        rapidbytev1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT,
	runerr.CategoryTransientNetwork: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK,
	runerr.CategoryTransientDB:      rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB,
	runerr.CategoryData:             rapidbytev1.ErrorCategory_ERROR_CATEGORY_DATA,
	runerr.CategorySchema:           rapidbytev1.ErrorCategory_ERROR_CATEGORY_SCHEMA,
	runerr.CategoryInternal:         rapidbytev1.ErrorCategory_ERROR_CATEGORY_INTERNAL,
	runerr.CategoryCancelled:        rapidbytev1.ErrorCategory_ERROR_CATEGORY_CANCELLED,
}

var categoryFromProto = invert(categoryToProto)

var commitToProto = map[runerr.CommitState]rapidbytev1.CommitState{
	runerr.CommitBefore:         rapidbytev1.CommitState_COMMIT_STATE_BEFORE_COMMIT,
	runerr.CommitAfterUnknown:   rapidbytev1.CommitState_COMMIT_STATE_AFTER_COMMIT_UNKNOWN,
	runerr.CommitAfterConfirmed: rapidbytev1.CommitState_COMMIT_STATE_AFTER_COMMIT_CONFIRMED,
}

var commitFromProto = invert(commitToProto)

var scopeToProto = map[runerr.Scope]rapidbytev1.ErrorScope{
	runerr.ScopeStream: rapidbytev1.ErrorScope_ERROR_SCOPE_STREAM,
	runerr.ScopeBatch:  rapidbytev1.ErrorScope_ERROR_SCOPE_BATCH,
	runerr.ScopeRecord: rapidbytev1.ErrorScope_ERROR_SCOPE_RECORD,
}

var scopeFromProto = invert(scopeToProto)

var classToProto = map[runerr.Class]rapidbytev1.BackoffClass{
	runerr.ClassFast:   rapidbytev1.BackoffClass_BACKOFF_CLASS_FAST,
	runerr.ClassNormal: rapidbytev1.BackoffClass_BACKOFF_CLASS_NORMAL,
	runerr.ClassSlow:   rapidbytev1.BackoffClass_BACKOFF_CLASS_SLOW,
}

var classFromProto = invert(classToProto)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// CategoryFromProto converts a proto category; an unspecified or unknown
// one becomes internal.
func CategoryFromProto(c rapidbytev1.ErrorCategory) runerr.Category {
	if cat, ok := categoryFromProto[c]; ok {
		return cat
	}
	return runerr.CategoryInternal
}

// ErrorToProto converts a domain error; nil stays nil.
func ErrorToProto(e *runerr.ConnectorError) *rapidbytev1.ConnectorError {
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
func ErrorFromProto(p *rapidbytev1.ConnectorError) *runerr.ConnectorError {
	if p == nil {
		return nil
	}
	return &runerr.ConnectorError{
		Category:     CategoryFromProto(p.GetCategory()),
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
