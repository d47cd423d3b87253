//go:build wasip1

package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

//go:wasmimport rapidbyte emit_schema
func rawEmitSchema(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte emit_batch
func rawEmitBatch(desc unsafe.Pointer, words uint32) int32

// garbage emits a utf8 schema and then a malformed batch through the raw
// imports, bypassing the SDK's builder.
func garbage(mode string) error {
	schema, _ := json.Marshal(abi.SchemaEnvelope{Fields: []abi.Field{{Name: "s", Type: "utf8"}}})
	if rc := rawEmitSchema(unsafe.Pointer(&schema[0]), uint32(len(schema))); rc != 0 {
		return sdk.InternalError(errors.New("emit_schema failed"))
	}
	offsets := []uint32{0, 3, 1} // decreasing
	data := []byte("abc")
	addr := func(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }
	var desc []uint32
	switch mode {
	case "garbage_ptr":
		desc = []uint32{2, 1, 3, 2, 0, 0, 0, 0xFFFFFF00, 12, addr(unsafe.Pointer(&data[0])), 3}
	case "garbage_offsets":
		desc = []uint32{2, 1, 3, 2, 0, 0, 0, addr(unsafe.Pointer(&offsets[0])), 12, addr(unsafe.Pointer(&data[0])), 3}
	default: // garbage_count
		desc = []uint32{2, 1, 2, 2, 0, 0, 0, addr(unsafe.Pointer(&offsets[0])), 12}
	}
	rc := rawEmitBatch(unsafe.Pointer(&desc[0]), uint32(len(desc)))
	return sdk.InternalError(errors.New("emit_batch of garbage returned " + strconv.Itoa(int(rc))))
}
