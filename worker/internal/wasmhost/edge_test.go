package wasmhost

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

func TestConcurrentReads(t *testing.T) {
	m := loadModule(t, "test-generator")
	const n, rows = 4, 20000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := &countSink{}
			st, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": rows + i, "batch_rows": 4096}), sink)
			if err == nil && (sink.rows != int64(rows+i) || st.Records != uint64(rows+i)) {
				err = errors.New("row count mismatch")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

type failingSink struct{ err error }

func (s failingSink) Batch(rec arrow.RecordBatch, _ *abi.Checkpoint) error {
	rec.Release()
	return s.err
}

func TestSinkAndAckErrorsFailTheOperation(t *testing.T) {
	m := loadModule(t, "test-generator")
	sinkErr := &guest.Error{Connector: "relay", Op: "read", Envelope: abi.NewErrorEnvelope(abi.CategoryTransientNetwork, "downstream_gone", "consumer went away")}
	_, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": 5000, "batch_rows": 1000}), failingSink{err: sinkErr})
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Code != "downstream_gone" {
		t.Fatalf("sink error: %v", err)
	}

	src := &collectSink{}
	defer src.release()
	if _, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": 3000, "batch_rows": 1000}), src); err != nil {
		t.Fatal(err)
	}
	_, err = m.Write(context.Background(), readInvocation(t, map[string]any{}), &sliceSource{recs: src.recs, cps: src.cps},
		func(*abi.Checkpoint, uint64, uint64, uint64) error { return context.Canceled })
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryCancelled {
		t.Fatalf("ack error: %v", err)
	}
}

func TestWriteRejectsSchemaChange(t *testing.T) {
	m := loadModule(t, "test-generator")
	a, b := &collectSink{}, &collectSink{}
	defer a.release()
	defer b.release()
	ctx := context.Background()
	if _, err := m.Read(ctx, readInvocation(t, map[string]any{"rows": 100, "columns": []string{"qty"}}), a); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read(ctx, readInvocation(t, map[string]any{"rows": 100, "columns": []string{"name"}}), b); err != nil {
		t.Fatal(err)
	}
	recs := []arrow.RecordBatch{a.recs[0], b.recs[0]}
	_, err := m.Write(ctx, readInvocation(t, map[string]any{}), &sliceSource{recs: recs, cps: make([]*abi.Checkpoint, 2)}, nil)
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategorySchema || e.Envelope.Code != "schema_mismatch" {
		t.Fatalf("want a schema mismatch, got %v", err)
	}
}
