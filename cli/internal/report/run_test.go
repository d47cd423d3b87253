package report

import (
	"strings"
	"testing"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestKeylessStreamGuarantee: a stream resumed by ctid says in the text and
// JSON output what is guaranteed; a keyed stream says nothing.
func TestKeylessStreamGuarantee(t *testing.T) {
	r := FromProto(&rapidbytev1.RunResult{Streams: []*rapidbytev1.StreamResult{
		{Stream: "logs", Checkpoint: &rapidbytev1.Checkpoint{CursorField: "ctid"}},
		{Stream: "users", Checkpoint: &rapidbytev1.Checkpoint{CursorField: "id"}},
	}})
	if r.Streams[0].Guarantee != keylessGuarantee || r.Streams[1].Guarantee != "" {
		t.Fatalf("guarantees = %q, %q", r.Streams[0].Guarantee, r.Streams[1].Guarantee)
	}
	var b strings.Builder
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "note: no key or cursor (or physical order)") != 1 || !strings.Contains(b.String(), `"guarantee":"no key or cursor (or physical order)`) {
		t.Errorf("text output lacks the note once and the JSON field:\n%s", b.String())
	}
}
