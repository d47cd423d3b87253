package engine

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
)

func TestStartOrderLargestFirst(t *testing.T) {
	mk := func(name string, bytes uint64, count int) *task {
		return &task{stream: pipeline.StreamConfig{Name: name, EstimatedBytes: bytes}, count: count}
	}
	cdc := &task{stream: pipeline.StreamConfig{Name: pipeline.ChangeStreamName, SyncMode: pipeline.SyncCDC}, count: 1}
	tasks := []*task{
		mk("a_small", 10, 1),
		mk("b_unknown", 0, 1),
		mk("c_large", 1000, 1),
		cdc,
		mk("d_split", 1200, 4), // 300 a partition
		mk("e_medium", 300, 1), // ties d_split's partitions: pipeline order
		mk("f_unknown", 0, 1),
	}
	var got []string
	for _, tk := range startOrder(tasks) {
		got = append(got, tk.stream.Name)
	}
	want := []string{pipeline.ChangeStreamName, "c_large", "d_split", "e_medium", "a_small", "b_unknown", "f_unknown"}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	if tasks[0].stream.Name != "a_small" {
		t.Error("startOrder reordered its input")
	}
}
