package main

import (
	"encoding/json"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
)

func harness(t *testing.T) *sdktest.NativeHarness {
	return &sdktest.NativeHarness{
		Connector: sdk.Connector{Source: &source{}, Destination: &destination{}},
		ID:        "test-generator",
		Logf:      t.Logf,
	}
}

func TestSourceConformance(t *testing.T) {
	stream := abi.StreamSpec{Name: "generated", Limits: abi.Limits{MaxBatchRows: 300}}
	sdktest.RunSource(t, harness(t), sdktest.SourceSuite{
		Config:    json.RawMessage(`{"rows": 10}`),
		BadConfig: json.RawMessage(`{"rows": "ten"}`),
		Cases: []sdktest.SourceCase{
			{Name: "all columns", Config: json.RawMessage(`{"rows": 1000, "checkpoint_every": 2}`), Stream: stream, WantRows: 1000,
				Check: func(t *testing.T, r *sdktest.ReadResult) {
					cps := r.Checkpoints()
					if len(cps) == 0 || *cps[len(cps)-1].CursorValue.Int != 999 || cps[len(cps)-1].Records != 1000 {
						t.Errorf("checkpoints %+v", cps)
					}
				}},
			{Name: "default row count", Config: json.RawMessage(`{"rows": 0}`), Stream: stream, WantRows: 1000},
			{Name: "resume", Config: json.RawMessage(`{"rows": 100, "columns": ["name"]}`), Stream: stream, WantRows: 50,
				Resume: checkpointPtr(49)},
		},
	})
}

func checkpointPtr(id int64) *abi.Checkpoint {
	cp := checkpointAt("generated", id, 0)
	return &cp
}

func TestDestinationConformance(t *testing.T) {
	h := harness(t)
	read, err := h.Read(t.Context(), sdktest.ReadRequest{Config: json.RawMessage(`{"rows": 700, "batch_rows": 100}`), Stream: abi.StreamSpec{Name: "generated"}})
	if err != nil {
		t.Fatal(err)
	}
	batches := read.Batches()
	for i := range batches {
		batches[i].Checkpoint.ID = uint64(i + 1)
	}
	stream := abi.StreamSpec{Name: "generated", WriteMode: abi.WriteAppend}
	sdktest.RunDestination(t, h, sdktest.DestinationSuite{
		Config:    json.RawMessage(`{}`),
		BadConfig: json.RawMessage(`{"commit_every": -1}`),
		Cases: []sdktest.DestinationCase{
			{Name: "verified", Write: sdktest.WriteRequest{Config: json.RawMessage(`{"expect_rows": 700, "commit_every": 3}`), Stream: stream, Schema: read.Schema(), Batches: batches},
				Check: func(t *testing.T, r *sdktest.WriteResult) {
					if len(r.Commits) != 3 || r.Commits[0].Batches != 3 || r.Commits[0].Records != 300 {
						t.Errorf("commits %+v", r.Commits)
					}
				}},
			{Name: "wrong row count", Write: sdktest.WriteRequest{Config: json.RawMessage(`{"expect_rows": 1}`), Stream: stream, Schema: read.Schema(), Batches: batches},
				WantErrCategory: abi.CategoryData},
			{Name: "empty stream", Write: sdktest.WriteRequest{Config: json.RawMessage(`{}`), Stream: stream}},
		},
	})
}
