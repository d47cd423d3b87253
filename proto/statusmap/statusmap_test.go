package statusmap

import (
	"testing"

	"google.golang.org/grpc/codes"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestEveryCategoryHasACode pins that no category is left to the Internal
// fallback by accident, and that a connector's auth failure never reads as
// the caller's bad token.
func TestEveryCategoryHasACode(t *testing.T) {
	for n := range rbv1.ErrorCategory_name {
		c := rbv1.ErrorCategory(n)
		if c == rbv1.ErrorCategory_ERROR_CATEGORY_UNSPECIFIED {
			continue
		}
		if _, ok := categoryCodes[c]; !ok {
			t.Errorf("category %s has no code", c)
		}
		if Code(c) == codes.Unauthenticated {
			t.Errorf("category %s maps to Unauthenticated, which is kept for the caller's bearer token", c)
		}
	}
	if got := Code(rbv1.ErrorCategory(999)); got != codes.Internal {
		t.Errorf("unknown category = %s, want Internal", got)
	}
}

// TestCategory pins the client direction for the codes a server sends
// without a ConnectorError.
func TestCategory(t *testing.T) {
	for code, want := range map[codes.Code]rbv1.ErrorCategory{
		codes.Unauthenticated:  rbv1.ErrorCategory_ERROR_CATEGORY_AUTH,
		codes.PermissionDenied: rbv1.ErrorCategory_ERROR_CATEGORY_PERMISSION,
		codes.Unavailable:      rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK,
		codes.NotFound:         rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG,
		codes.Unknown:          rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL,
	} {
		if got := Category(code); got != want {
			t.Errorf("Category(%s) = %s, want %s", code, got, want)
		}
	}
}
