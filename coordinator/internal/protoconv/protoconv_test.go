package protoconv

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

func TestErrorRoundTrip(t *testing.T) {
	in := &retry.ConnectorError{
		Category: retry.CategoryTransientDB, Code: "COMMIT_FAILED", Message: "m", Retryable: true, SafeToRetry: false,
		CommitState: retry.CommitAfterUnknown, RetryAfterMs: 5, Scope: retry.ScopeBatch, BackoffClass: retry.ClassSlow,
		Connector: "dest-postgres", Hint: "h",
	}
	if diff := cmp.Diff(in, ErrorFromProto(ErrorToProto(in))); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if ErrorToProto(nil) != nil || ErrorFromProto(nil) != nil {
		t.Error("nil did not stay nil")
	}
	if got := ErrorFromProto(ErrorToProto(&retry.ConnectorError{Category: "bogus"})); got.Category != retry.CategoryInternal {
		t.Errorf("unknown category became %q, want internal", got.Category)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, v := range []store.CursorValue{
		{}, store.IntCursor(-3), store.DoubleCursor(1.5), store.StringCursor("x"), store.DecimalCursor("1.20"),
		store.DateCursor(19000), {Kind: store.CursorTimestampMicros, Int: 1700000000000000},
	} {
		in := &store.Checkpoint{ID: 2, Stream: "s", Partition: 1, CursorField: "c", CursorValue: v,
			TieBreakerField: "id", TieBreakerValue: store.IntCursor(9), Records: 10, Bytes: 20}
		if diff := cmp.Diff(in, CheckpointFromProto(CheckpointToProto(in))); diff != "" {
			t.Errorf("cursor %+v round trip (-want +got):\n%s", v, diff)
		}
	}
}
