package wasmhost

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// EncodeFrame encodes rec, whose schema is bs, as a next_batch frame (see
// package abi): what a destination guest receives.
func EncodeFrame(rec arrow.RecordBatch, bs *batch.Schema) ([]byte, error) {
	nodes, bufs, err := recordLayout(rec, bs, nil, nil)
	if err != nil {
		return nil, err
	}
	return batch.EncodeFrame(nil, int(rec.NumRows()), nodes, bufs, nil), nil
}

// DecodeFrame validates a frame of schema bs and builds its record, of
// Arrow schema as.
func DecodeFrame(frame []byte, as *arrow.Schema, bs *batch.Schema) (arrow.RecordBatch, error) {
	rows, nodes, bufs, _, err := batch.ParseFrame(frame, bs, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := batch.Validate(bs, rows, nodes, bufs); err != nil {
		return nil, err
	}
	return buildRecord(as, bs, rows, nodes, bufs, nil, nil)
}
