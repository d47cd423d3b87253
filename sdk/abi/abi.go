package abi

import "strconv"

// Version is the guest ABI version. The host refuses a module whose
// rb_abi_version export or manifest reports another value.
const Version = 1

// HostModule is the import module name of every host function.
const HostModule = "rapidbyte"

// ManifestSection is the name of the wasm custom section that holds the
// connector manifest (protojson of rapidbyte.v1.ConnectorManifest with proto
// field names), so the manifest can be read without instantiating the module.
const ManifestSection = "rapidbyte.manifest"

// ExportInitialize is the reactor initialiser a module built with
// -buildmode=c-shared exports; the host runs it on every instance and
// refuses a module without it (a wasip1 command, whose exports trap).
const ExportInitialize = "_initialize"

// Guest exports. Each takes no arguments and returns i32 (negative = error).
const (
	ExportABIVersion = "rb_abi_version" // () -> i32: returns Version
	ExportOpen       = "rb_open"        // () -> i32: reads the Request via get_request, validates config, connects
	ExportDiscover   = "rb_discover"    // () -> i32: hands a Catalog (JSON) to set_result
	ExportCheck      = "rb_check"       // () -> i32: hands a CheckResult (JSON) to set_result
	ExportRead       = "rb_read"        // () -> i32: emit_schema, emit_batch..., checkpoint...
	ExportWrite      = "rb_write"       // () -> i32: next_batch... until 0, checkpoint after each commit
	ExportClose      = "rb_close"       // () -> i32: releases everything; always called
)

// Host imports, all in module HostModule. Pointers and lengths are u32;
// results are i32 unless noted. A negative result is -Errno.
const (
	ImportGetRequest  = "get_request"  // (buf, cap) -> len of the Request JSON; len > cap: grow and retry
	ImportSetResult   = "set_result"   // (ptr, len) -> 0: the JSON result of rb_discover / rb_check
	ImportSetError    = "set_error"    // (ptr, len) -> 0: the ErrorEnvelope JSON for the failing export
	ImportLog         = "log"          // (level, ptr, len) -> 0: level is a LogLevel; the text is the message, then optional NUL-separated key, value pairs
	ImportEmitSchema  = "emit_schema"  // (ptr, len) -> 0: SchemaEnvelope JSON, once per stream, before batches
	ImportEmitBatch   = "emit_batch"   // (descPtr, descWords) -> 0: one batch descriptor (see package doc)
	ImportNextBatch   = "next_batch"   // (buf, cap) -> frame len; 0 = end of stream; len > cap: grow and retry
	ImportCheckpoint  = "checkpoint"   // (ptr, len) -> 0: Checkpoint JSON (source: covers emitted batches); destination: commit done, with an optional CommitInfo JSON (len 0 = none); a CommitInfo with Committed, before the first next_batch, reports the position the destination already holds
	ImportStateGet    = "state_get"    // (keyPtr, keyLen, buf, cap) -> len; -ENOENT when absent; len > cap: grow and retry
	ImportStatePut    = "state_put"    // (keyPtr, keyLen, valPtr, valLen) -> 0
	ImportSockConnect = "sock_connect" // (addrPtr, addrLen) -> handle (> 0) or -errno; -EACCES off the allow-list
	ImportSockRead    = "sock_read"    // (h, buf, cap, timeoutMs) -> n; 0 = EOF; -EAGAIN when nothing arrived in time
	ImportSockWrite   = "sock_write"   // (h, ptr, len) -> n (writes everything or fails)
	ImportSockClose   = "sock_close"   // (h) -> 0
	ImportSockTLS     = "sock_tls"     // (h, params, paramsLen, msg, msgCap) -> 0: the host ran a TLS handshake on the socket (TLSParams JSON) and encrypts everything read and written after it; > 0: the handshake failed, its message of that many bytes in msg (cut to msgCap); -errno
	ImportIsCancelled = "is_cancelled" // () -> 1 when the host's context is done, else 0
	ImportFollowState = "follow_state" // (buf, cap) -> len of the FollowState JSON; -ENOENT when the read does not follow; len > cap: grow and retry
	ImportWireRows    = "wire_rows"    // (op, args, words) -> 0: runs one loop of the SDK's wire-row decoding or encoding natively over guest memory (see WireRowsOp); -EINVAL for a bad op or block, -EFAULT for memory out of range
)

// FrameMagic starts every next_batch frame ("RBF1" little-endian).
const FrameMagic uint32 = 0x31464252

// Errno values returned (negated) by host imports.
const (
	ENOENT       = 2
	EIO          = 5
	EBADF        = 9
	EAGAIN       = 11
	EFAULT       = 14
	EINVAL       = 22
	EPIPE        = 32
	ETIMEDOUT    = 110
	EACCES       = 13
	ECANCELED    = 125
	ECONNREFUSED = 111
	ECONNRESET   = 104
	EHOSTUNREACH = 113
)

// LogLevel is the level argument of the log import.
type LogLevel int32

// Log levels, matching hclog's ordering.
const (
	LogTrace LogLevel = 1
	LogDebug LogLevel = 2
	LogInfo  LogLevel = 3
	LogWarn  LogLevel = 4
	LogError LogLevel = 5
)

// Defaults for Limits fields left at zero.
const (
	DefaultMaxBatchRows  = 16384
	DefaultMaxBatchBytes = 64 << 20
)

// MetaSourceType is the Arrow field metadata key that carries a Field's
// SourceType in the host's arrow.Schema.
const MetaSourceType = "source_type"

// Error categories of ErrorEnvelope.Category.
const (
	CategoryConfig           = "config"
	CategoryAuth             = "auth"
	CategoryPermission       = "permission"
	CategoryRateLimit        = "rate_limit"
	CategoryTransientNetwork = "transient_network"
	CategoryTransientDB      = "transient_db"
	CategoryData             = "data"
	CategorySchema           = "schema"
	CategoryInternal         = "internal"
	CategoryCancelled        = "cancelled"
)

// Commit states of ErrorEnvelope.CommitState.
const (
	CommitBefore         = "before_commit"
	CommitAfterUnknown   = "after_commit_unknown"
	CommitAfterConfirmed = "after_commit_confirmed"
)

// CodeResumeAhead is the ErrorEnvelope.Code of a destination that refused a
// write because it already holds rows after the resume position; it
// reported that position through the checkpoint import first, and the
// coordinator retries at once from there without counting an attempt.
const CodeResumeAhead = "resume_ahead"

// Scopes and backoff classes of ErrorEnvelope.
const (
	ScopeStream   = "stream"
	ScopeBatch    = "batch"
	ScopeRecord   = "record"
	BackoffFast   = "fast"
	BackoffNormal = "normal"
	BackoffSlow   = "slow"
)

// String returns the level name ("trace" ... "error").
func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}
