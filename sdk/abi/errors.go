package abi

import (
	"errors"
	"fmt"
)

// NewErrorEnvelope returns an envelope of category with the default
// retryable, safe_to_retry, backoff and scope of that category:
//
//	config, auth, permission, schema, internal, cancelled: fatal, scope stream
//	data: fatal, scope record
//	rate_limit: retryable, safe, backoff slow
//	transient_network, transient_db: retryable, safe, backoff normal
//
// An unknown category is treated as internal.
func NewErrorEnvelope(category, code, message string) ErrorEnvelope {
	e := ErrorEnvelope{Category: category, Code: code, Message: message, Scope: ScopeStream, BackoffClass: BackoffNormal}
	switch category {
	case CategoryRateLimit:
		e.Retryable, e.SafeToRetry, e.BackoffClass = true, true, BackoffSlow
	case CategoryTransientNetwork, CategoryTransientDB:
		e.Retryable, e.SafeToRetry = true, true
	case CategoryData:
		e.Scope = ScopeRecord
	case CategoryConfig, CategoryAuth, CategoryPermission, CategorySchema, CategoryInternal, CategoryCancelled:
	default:
		e.Category = CategoryInternal
	}
	if e.Code == "" {
		e.Code = e.Category
	}
	return e
}

// KnownCategory reports whether c is one of the Category constants.
func KnownCategory(c string) bool {
	switch c {
	case CategoryConfig, CategoryAuth, CategoryPermission, CategoryRateLimit, CategoryTransientNetwork,
		CategoryTransientDB, CategoryData, CategorySchema, CategoryInternal, CategoryCancelled:
		return true
	}
	return false
}

// Validate checks that e is a well-formed envelope: a known category, a
// message, known commit state, scope and backoff class, and that
// after_commit_unknown is not marked safe to retry.
func (e *ErrorEnvelope) Validate() error {
	var errs []error
	if !KnownCategory(e.Category) {
		errs = append(errs, fmt.Errorf("unknown category %q", e.Category))
	}
	if e.Message == "" {
		errs = append(errs, errors.New("empty message"))
	}
	switch e.CommitState {
	case "", CommitBefore, CommitAfterConfirmed:
	case CommitAfterUnknown:
		if e.SafeToRetry {
			errs = append(errs, errors.New("after_commit_unknown cannot be safe_to_retry"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown commit_state %q", e.CommitState))
	}
	switch e.Scope {
	case "", ScopeStream, ScopeBatch, ScopeRecord:
	default:
		errs = append(errs, fmt.Errorf("unknown scope %q", e.Scope))
	}
	switch e.BackoffClass {
	case "", BackoffFast, BackoffNormal, BackoffSlow:
	default:
		errs = append(errs, fmt.Errorf("unknown backoff_class %q", e.BackoffClass))
	}
	return errors.Join(errs...)
}

// String formats e as "[category/scope] CODE (retryable|fatal): message".
func (e ErrorEnvelope) String() string {
	r := "fatal"
	if e.Retryable {
		r = "retryable"
	}
	scope := e.Scope
	if scope == "" {
		scope = ScopeStream
	}
	return fmt.Sprintf("[%s/%s] %s (%s): %s", e.Category, scope, e.Code, r, e.Message)
}
