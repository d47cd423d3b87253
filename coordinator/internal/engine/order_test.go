package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// TestPipelineOrder: results come back in the order the run planned its
// streams (the first attempt's list), not by name (t10 before t2).
func TestPipelineOrder(t *testing.T) {
	streams := []store.StreamResult{
		{Stream: "orphan"}, {Stream: "t1"}, {Stream: "t10"}, {Stream: "t2", Partition: 1}, {Stream: "t2", Partition: 0}, {Stream: "users"},
	}
	atts := []store.Attempt{
		{Number: 1, Streams: []string{"users", "t1", "t2[0/2]", "t2[1/2]", "t10"}},
		{Number: 2, Streams: []string{"t10"}},
	}
	pipelineOrder(streams, atts)
	var got []string
	for _, s := range streams {
		got = append(got, s.Stream+string(rune('0'+s.Partition)))
	}
	want := []string{"users0", "t10", "t20", "t21", "t100", "orphan0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
