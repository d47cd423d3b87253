package grpcapi

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// testRecord returns a one-column int64 batch of the values from mem.
func testRecord(mem memory.Allocator, values ...int64) arrow.RecordBatch {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(values, nil)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(values)))
}

func TestBatchQueueBoundsAndOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := t.Context()
	q := newBatchQueue(ctx, 100, 16)
	if err := q.push(ctx, testRecord(mem, 1), nil, 60); err != nil {
		t.Fatal(err)
	}
	// A second batch over the byte bound waits until the first is taken.
	pushed := make(chan error, 1)
	go func() { pushed <- q.push(ctx, testRecord(mem, 2), nil, 60) }()
	select {
	case err := <-pushed:
		t.Fatalf("a push over the byte bound returned (%v) before anything was taken", err)
	case <-time.After(50 * time.Millisecond):
	}
	for want := int64(1); want <= 2; want++ {
		rec, _, err := q.pop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Column(0).(*array.Int64).Value(0); got != want {
			t.Errorf("popped %d, want %d", got, want)
		}
		rec.Release()
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	q.finish(nil)
	if _, _, err := q.pop(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("pop after the read's end: %v, want io.EOF", err)
	}
}

func TestBatchQueueCountBound(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := t.Context()
	q := newBatchQueue(ctx, 1<<20, 1)
	if err := q.push(ctx, testRecord(mem, 1), nil, 8); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- q.push(ctx, testRecord(mem, 2), nil, 8) }()
	select {
	case err := <-pushed:
		t.Fatalf("a push over the count bound returned (%v) before anything was taken", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The write ends: queued and waiting batches are released.
	q.abandon()
	if err := <-pushed; err == nil {
		t.Error("a push after the write ended succeeded")
	}
}

func TestBatchQueueFailedRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := t.Context()
	q := newBatchQueue(ctx, 1<<20, 16)
	if err := q.push(ctx, testRecord(mem, 1), nil, 8); err != nil {
		t.Fatal(err)
	}
	q.finish(errors.New("source broke"))
	if _, _, err := q.pop(t.Context()); !errors.Is(err, errSourceFailed) {
		t.Errorf("pop after a failed read: %v, want errSourceFailed", err)
	}
	q.abandon()
}

func TestBatchQueuePopEndsWithItsContext(t *testing.T) {
	q := newBatchQueue(t.Context(), 1<<20, 16)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := q.pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("pop on an empty queue past its deadline: %v, want DeadlineExceeded", err)
	}
}

func TestUnslicedCompactsSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testRecord(mem, 1, 2, 3, 4)
	slice := rec.NewSlice(2, 4)
	rec.Release()
	out, err := unsliced(slice)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	col := out.Column(0).(*array.Int64)
	if col.Data().Offset() != 0 || col.Len() != 2 || col.Value(0) != 3 || col.Value(1) != 4 {
		t.Errorf("unsliced column: offset %d, values %v; want offset 0, [3 4]", col.Data().Offset(), col.Int64Values())
	}
}

// A read blocked on a full queue returns at its own deadline, so that its
// guest is told to stop instead of being abandoned in the host call.
func TestBatchQueuePushEndsWithItsContext(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	q := newBatchQueue(t.Context(), 1<<20, 1)
	if err := q.push(t.Context(), testRecord(mem, 1), nil, 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := q.push(ctx, testRecord(mem, 2), nil, 8); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("push on a full queue past its deadline: %v, want DeadlineExceeded", err)
	}
	q.abandon()
}
