package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
)

type cfg struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Opts struct {
		TLS bool `json:"tls"`
	} `json:"opts"`
}

func TestConfigDecode(t *testing.T) {
	tests := []struct {
		name, in, code, inMsg string
	}{
		{name: "ok", in: `{"host":"db","port":5432,"opts":{"tls":true}}`},
		{name: "empty", in: ``},
		{name: "null", in: `null`},
		{name: "unknown field", in: `{"host":"db","prot":1}`, code: "unknown_field", inMsg: `"prot"`},
		{name: "nested unknown field", in: `{"opts":{"ssl":true}}`, code: "unknown_field", inMsg: `"ssl"`},
		{name: "wrong type", in: `{"port":"5432"}`, code: "invalid_field", inMsg: `"port"`},
		{name: "nested wrong type", in: `{"opts":{"tls":"yes"}}`, code: "invalid_field", inMsg: `opts.tls`},
		{name: "trailing data", in: `{"host":"a"} {"host":"b"}`, code: "invalid_config"},
		{name: "not json", in: `{`, code: "invalid_config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c cfg
			err := sdk.NewConfig(json.RawMessage(tc.in)).Decode(&c)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *sdk.Error
			if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryConfig || e.Envelope.Code != tc.code {
				t.Fatalf("got %v, want config/%s", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("%q lacks %q", err, tc.inMsg)
			}
		})
	}
}

func TestErrorConstructors(t *testing.T) {
	cause := errors.New("boom")
	e := sdk.TransientDBError(cause, sdk.WithCode("COMMIT_FAILED"), sdk.WithCommitState(abi.CommitAfterUnknown), sdk.WithHint("check the table"))
	if !errors.Is(e, cause) || e.Envelope.SafeToRetry || !e.Envelope.Retryable || e.Envelope.Code != "COMMIT_FAILED" || e.Envelope.Hint != "check the table" {
		t.Errorf("transient db after commit unknown: %+v", e.Envelope)
	}
	rl := sdk.RateLimitError(1500*time.Millisecond, cause)
	if rl.Envelope.RetryAfterMs != 1500 || rl.Envelope.BackoffClass != abi.BackoffSlow || !rl.Envelope.SafeToRetry {
		t.Errorf("rate limit: %+v", rl.Envelope)
	}
	wrapped := fmt.Errorf("open: %w", sdk.AuthError(cause))
	if got := sdk.Classify(wrapped).Envelope.Category; got != abi.CategoryAuth {
		t.Errorf("Classify(wrapped auth) = %s", got)
	}
	if got := sdk.Classify(cause).Envelope.Category; got != abi.CategoryInternal {
		t.Errorf("Classify(plain) = %s", got)
	}
	if got := sdk.Classify(context.Canceled).Envelope.Category; got != abi.CategoryCancelled {
		t.Errorf("Classify(ctx) = %s", got)
	}
	if sdk.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

// fakeSource exercises the SDK's dispatch through the native harness.
type fakeSource struct {
	fail    string
	rows    int
	closed  int
	stateOK bool
}

func (f *fakeSource) Open(ctx context.Context, c sdk.Config) error {
	var v struct {
		Fail string `json:"fail"`
		Rows int    `json:"rows"`
	}
	if err := c.Decode(&v); err != nil {
		return err
	}
	f.fail, f.rows = v.Fail, v.Rows
	if f.fail == "open" {
		return sdk.AuthError(errors.New("bad password"))
	}
	return nil
}

func (f *fakeSource) Discover(context.Context) (*abi.Catalog, error) {
	return &abi.Catalog{Streams: []abi.Stream{{Name: "t", Columns: []abi.Column{{Name: "id", ArrowType: "int64"}}, SupportedSyncModes: []string{"full_refresh"}}}}, nil
}

func (f *fakeSource) Check(context.Context) error { return nil }

func (f *fakeSource) Read(ctx context.Context, req sdk.ReadRequest, e sdk.Emitter) error {
	switch f.fail {
	case "panic":
		var p *int
		_ = *p
	case "plain":
		return errors.New("plain failure")
	}
	if err := sdk.StatePut(ctx, "k", []byte("v")); err != nil {
		return err
	}
	v, ok, err := sdk.StateGet(ctx, "k")
	f.stateOK = err == nil && ok && string(v) == "v"
	if _, missing, _ := sdk.StateGet(ctx, "absent"); missing {
		return errors.New("absent key found")
	}
	sdk.Log(ctx, abi.LogInfo, "reading", "rows", f.rows)
	b, err := e.Schema([]abi.Field{{Name: "id", Type: "int64"}})
	if err != nil {
		return err
	}
	if _, err := e.Schema([]abi.Field{{Name: "id", Type: "int64"}}); err == nil {
		return errors.New("second Schema call accepted")
	}
	if b.MaxRows() != req.MaxBatchRows {
		return fmt.Errorf("builder sized %d, limit %d", b.MaxRows(), req.MaxBatchRows)
	}
	for i := 0; i < f.rows; i++ {
		b.Int64(0).Append(int64(i))
		if b.Full() {
			if err := e.Emit(b); err != nil {
				return err
			}
		}
	}
	if err := e.Emit(b); err != nil {
		return err
	}
	v2 := int64(f.rows)
	return e.Checkpoint(abi.Checkpoint{CursorField: "id", CursorValue: &abi.CursorValue{Int: &v2}, Records: uint64(f.rows)})
}

func (f *fakeSource) Close(context.Context) error { f.closed++; return nil }

func TestDispatchThroughNativeHarness(t *testing.T) {
	src := &fakeSource{}
	h := &sdktest.NativeHarness{Connector: sdk.Connector{Source: src}, Logf: t.Logf}
	stream := abi.StreamSpec{Name: "t", Limits: abi.Limits{MaxBatchRows: 100}}
	ctx := context.Background()
	res, err := h.Read(ctx, sdktest.ReadRequest{Config: json.RawMessage(`{"rows": 250}`), Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.CheckReadResult(t, res)
	if res.Rows() != 250 || len(res.Checkpoints()) != 1 || !src.stateOK {
		t.Fatalf("rows %d checkpoints %d state %v", res.Rows(), len(res.Checkpoints()), src.stateOK)
	}
	batches := 0
	for _, e := range res.Events {
		if e.Kind == sdktest.EventBatch {
			batches++
		}
	}
	if batches != 3 {
		t.Errorf("%d batches, want 3 (100+100+50)", batches)
	}
	for _, tc := range []struct{ fail, category, code string }{
		{"open", abi.CategoryAuth, "auth"},
		{"panic", abi.CategoryInternal, "panic"},
		{"plain", abi.CategoryInternal, "internal"},
	} {
		_, err := h.Read(ctx, sdktest.ReadRequest{Config: json.RawMessage(`{"fail":"` + tc.fail + `"}`), Stream: stream})
		e := sdk.Classify(err)
		if err == nil || e.Envelope.Category != tc.category || e.Envelope.Code != tc.code {
			t.Errorf("fail=%s: %v", tc.fail, err)
		}
	}
	// Discover on a destination-only connector is a config error.
	dh := &sdktest.NativeHarness{Connector: sdk.Connector{Destination: nopDest{}}}
	if _, err := dh.Discover(ctx, nil); sdk.Classify(err).Envelope.Category != abi.CategoryConfig {
		t.Errorf("discover on a destination: %v", err)
	}
	sdktest.CheckLifecycle(t, h.Calls())
	if src.closed != 4 {
		t.Errorf("Close called %d times, want 4 (once per Open)", src.closed)
	}
}

// namedSource discovers by name: its catalog lists the names it was asked for.
type namedSource struct{ fakeSource }

func (n *namedSource) DiscoverNamed(_ context.Context, names []string) (*abi.Catalog, error) {
	cat := &abi.Catalog{}
	for _, name := range names {
		cat.Streams = append(cat.Streams, abi.Stream{Name: name, Columns: []abi.Column{{Name: "id", ArrowType: "int64"}}, SupportedSyncModes: []string{"full_refresh"}})
	}
	return cat, nil
}

// TestDiscoverNamed: a request naming streams reaches a NamedDiscoverer's
// DiscoverNamed, one without names its Discover; a source that does not
// discover by name lists everything either way.
func TestDiscoverNamed(t *testing.T) {
	ctx := context.Background()
	streams := func(cat *abi.Catalog, err error) string {
		if err != nil {
			return err.Error()
		}
		var names []string
		for _, s := range cat.Streams {
			names = append(names, s.Name)
		}
		return strings.Join(names, ",")
	}
	named := &sdktest.NativeHarness{Connector: sdk.Connector{Source: &namedSource{}}}
	if got := streams(named.DiscoverNamed(ctx, nil, []string{"a", "b"})); got != "a,b" {
		t.Errorf("named discover of a NamedDiscoverer = %q, want a,b", got)
	}
	if got := streams(named.Discover(ctx, nil)); got != "t" {
		t.Errorf("discover of a NamedDiscoverer without names = %q, want its Discover's t", got)
	}
	plain := &sdktest.NativeHarness{Connector: sdk.Connector{Source: &fakeSource{}}}
	if got := streams(plain.DiscoverNamed(ctx, nil, []string{"a"})); got != "t" {
		t.Errorf("named discover of a plain source = %q, want its whole catalog, t", got)
	}
}

type nopDest struct{}

func (nopDest) Open(context.Context, sdk.Config) error { return nil }
func (nopDest) Check(context.Context) error            { return nil }
func (nopDest) Write(ctx context.Context, _ sdk.WriteRequest, it sdk.BatchIterator) error {
	for {
		if _, err := it.Next(ctx); errors.Is(err, io.EOF) {
			return it.Commit()
		} else if err != nil {
			return err
		}
	}
}
func (nopDest) Close(context.Context) error { return nil }

// keepingDest checks, at every Next, that the batch before stays intact
// when the iterator said it would (Kept).
type keepingDest struct {
	t       *testing.T
	batches int
	kept    int
}

func (keepingDest) Open(context.Context, sdk.Config) error { return nil }
func (keepingDest) Check(context.Context) error            { return nil }
func (d *keepingDest) Write(ctx context.Context, _ sdk.WriteRequest, it sdk.BatchIterator) error {
	var prev *batch.View
	var snapshot []byte
	for {
		kept := it.Kept()
		v, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return it.Commit()
		}
		if err != nil {
			return err
		}
		d.batches++
		if prev != nil && kept {
			d.kept++
			if v == prev || !bytes.Equal(prev.Column(0).Values(), snapshot) {
				d.t.Errorf("batch %d: the batch before changed although Kept said it stays", d.batches)
			}
		}
		prev, snapshot = v, append([]byte(nil), v.Column(0).Values()...)
	}
}
func (keepingDest) Close(context.Context) error { return nil }

func TestIteratorKeepsThePreviousBatch(t *testing.T) {
	src := &fakeSource{}
	h := &sdktest.NativeHarness{Connector: sdk.Connector{Source: src}, Logf: t.Logf}
	stream := abi.StreamSpec{Name: "t", Limits: abi.Limits{MaxBatchRows: 100}}
	ctx := context.Background()
	res, err := h.Read(ctx, sdktest.ReadRequest{Config: json.RawMessage(`{"rows": 450}`), Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	d := &keepingDest{t: t}
	wh := &sdktest.NativeHarness{Connector: sdk.Connector{Destination: d}, Logf: t.Logf}
	if _, err := wh.Write(ctx, sdktest.WriteRequest{Stream: stream, Schema: res.Schema(), Batches: res.Batches()}); err != nil {
		t.Fatal(err)
	}
	if d.batches != 5 || d.kept != 4 {
		t.Errorf("%d batches, %d checked as kept; want 5 and 4", d.batches, d.kept)
	}
}

func TestIteratorDoesNotKeepLargeFrames(t *testing.T) {
	ctx := context.Background()
	read := func(rows, perBatch int) ([]sdktest.Batch, []abi.Field) {
		h := &sdktest.NativeHarness{Connector: sdk.Connector{Source: &fakeSource{}}, Logf: t.Logf}
		stream := abi.StreamSpec{Name: "t", Limits: abi.Limits{MaxBatchRows: uint32(perBatch)}}
		res, err := h.Read(ctx, sdktest.ReadRequest{Config: json.RawMessage(fmt.Sprintf(`{"rows": %d}`, rows)), Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		return res.Batches(), res.Schema()
	}
	small, schema := read(200, 100)
	large, _ := read(1_200_000, 1_200_000) // a frame of over 9 MB
	if len(large) != 1 || len(large[0].Frame) <= sdk.KeepFrameBytes {
		t.Fatalf("large frame: %d batches", len(large))
	}
	// small, large, small, small: the large batch is not kept, the small
	// one after it is again (in a small buffer of its own).
	batches := []sdktest.Batch{small[0], large[0], small[1], small[0]}
	d := &keepingDest{t: t}
	wh := &sdktest.NativeHarness{Connector: sdk.Connector{Destination: d}, Logf: t.Logf}
	if _, err := wh.Write(ctx, sdktest.WriteRequest{Stream: abi.StreamSpec{Name: "t"}, Schema: schema, Batches: batches}); err != nil {
		t.Fatal(err)
	}
	if d.batches != 4 || d.kept != 2 {
		t.Errorf("%d batches, %d checked as kept; want 4 and 2", d.batches, d.kept)
	}
}
