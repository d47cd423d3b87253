package protoconv

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// Enum prefixes of the proto enums.
const (
	prefixSyncMode    = "SYNC_MODE_"
	prefixWriteMode   = "WRITE_MODE_"
	prefixRole        = "ROLE_"
	prefixCategory    = "ERROR_CATEGORY_"
	prefixCommitState = "COMMIT_STATE_"
	prefixScope       = "ERROR_SCOPE_"
	prefixBackoff     = "BACKOFF_CLASS_"
	prefixDataError   = "DATA_ERROR_POLICY_"
	prefixNewColumn   = "NEW_COLUMN_POLICY_"
)

// enumName returns the short lower-case name of e ("" for the zero value or
// an unknown number).
func enumName(e protoreflect.Enum, prefix string) string {
	if e.Number() == 0 {
		return ""
	}
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix))
}

// enumNumber returns the number of the value named prefix+upper(s), or 0
// when s is empty or unknown.
func enumNumber(d protoreflect.EnumDescriptor, prefix, s string) protoreflect.EnumNumber {
	if s == "" {
		return 0
	}
	v := d.Values().ByName(protoreflect.Name(prefix + strings.ToUpper(s)))
	if v == nil {
		return 0
	}
	return v.Number()
}

// SyncModeName returns the ABI name of m ("full_refresh", "incremental", "cdc").
func SyncModeName(m rbv1.SyncMode) string { return enumName(m, prefixSyncMode) }

// SyncModeFromName parses an ABI sync mode name; unknown names give UNSPECIFIED.
func SyncModeFromName(s string) rbv1.SyncMode {
	return rbv1.SyncMode(enumNumber(rbv1.SyncMode(0).Descriptor(), prefixSyncMode, s))
}

// WriteModeName returns the ABI name of m ("append", "replace", "upsert").
func WriteModeName(m rbv1.WriteMode) string { return enumName(m, prefixWriteMode) }

// WriteModeFromName parses an ABI write mode name; unknown names give UNSPECIFIED.
func WriteModeFromName(s string) rbv1.WriteMode {
	return rbv1.WriteMode(enumNumber(rbv1.WriteMode(0).Descriptor(), prefixWriteMode, s))
}

// RoleName returns the ABI name of r ("source", "destination").
func RoleName(r rbv1.Role) string { return enumName(r, prefixRole) }

// RoleFromName parses an ABI role name; unknown names give UNSPECIFIED.
func RoleFromName(s string) rbv1.Role {
	return rbv1.Role(enumNumber(rbv1.Role(0).Descriptor(), prefixRole, s))
}

// CategoryName returns the ABI name of c ("config", "transient_db", ...).
func CategoryName(c rbv1.ErrorCategory) string { return enumName(c, prefixCategory) }

// CategoryFromName parses an ABI error category; unknown names give UNSPECIFIED.
func CategoryFromName(s string) rbv1.ErrorCategory {
	return rbv1.ErrorCategory(enumNumber(rbv1.ErrorCategory(0).Descriptor(), prefixCategory, s))
}

func sliceOf[E any](in []string, f func(string) E) []E {
	if len(in) == 0 {
		return nil
	}
	out := make([]E, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

func namesOf[E any](in []E, f func(E) string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, e := range in {
		out[i] = f(e)
	}
	return out
}
