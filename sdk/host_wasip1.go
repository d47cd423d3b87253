//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

//go:wasmimport rapidbyte get_request
func rbGetRequest(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport rapidbyte set_result
func rbSetResult(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte set_error
func rbSetError(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte log
func rbLog(level int32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte emit_schema
func rbEmitSchema(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte emit_batch
func rbEmitBatch(desc unsafe.Pointer, words uint32) int32

//go:wasmimport rapidbyte next_batch
func rbNextBatch(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport rapidbyte checkpoint
func rbCheckpoint(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte state_get
func rbStateGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport rapidbyte state_put
func rbStatePut(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport rapidbyte sock_connect
func rbSockConnect(addr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte sock_read
func rbSockRead(h int32, buf unsafe.Pointer, capacity uint32, timeoutMs int32) int32

//go:wasmimport rapidbyte sock_write
func rbSockWrite(h int32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport rapidbyte sock_close
func rbSockClose(h int32) int32

//go:wasmimport rapidbyte sock_tls
func rbSockTLS(h int32, params unsafe.Pointer, paramsLen uint32, msg unsafe.Pointer, msgCap uint32) int32

//go:wasmimport rapidbyte is_cancelled
func rbIsCancelled() int32

//go:wasmimport rapidbyte follow_state
func rbFollowState(buf unsafe.Pointer, capacity uint32) int32

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// wasmHost is the import-backed rt.Host of a wasm guest.
type wasmHost struct {
	desc []uint32
}

var theHost = &wasmHost{}

func init() { rt.Default = theHost }

func (*wasmHost) GetRequest(buf []byte) int32 { return rbGetRequest(ptr(buf), uint32(len(buf))) }
func (*wasmHost) SetResult(p []byte) int32    { return rbSetResult(ptr(p), uint32(len(p))) }
func (*wasmHost) SetError(p []byte) int32     { return rbSetError(ptr(p), uint32(len(p))) }
func (*wasmHost) Log(level int32, p []byte) int32 {
	return rbLog(level, ptr(p), uint32(len(p)))
}
func (*wasmHost) EmitSchema(p []byte) int32 { return rbEmitSchema(ptr(p), uint32(len(p))) }

func (w *wasmHost) EmitBatch(rows int, nodes []batch.Node, bufs [][]byte) int32 {
	w.desc = batch.AppendDescriptor(w.desc[:0], rows, nodes, bufs, func(b []byte) uint32 {
		return uint32(uintptr(ptr(b)))
	})
	rc := rbEmitBatch(unsafe.Pointer(unsafe.SliceData(w.desc)), uint32(len(w.desc)))
	// Keep the buffers reachable until the host has copied them.
	runtime.KeepAlive(bufs)
	return rc
}

func (*wasmHost) NextBatch(buf []byte) int32 { return rbNextBatch(ptr(buf), uint32(len(buf))) }
func (*wasmHost) Checkpoint(p []byte) int32  { return rbCheckpoint(ptr(p), uint32(len(p))) }
func (*wasmHost) StateGet(key string, buf []byte) int32 {
	return rbStateGet(sptr(key), uint32(len(key)), ptr(buf), uint32(len(buf)))
}
func (*wasmHost) StatePut(key string, val []byte) int32 {
	return rbStatePut(sptr(key), uint32(len(key)), ptr(val), uint32(len(val)))
}
func (*wasmHost) SockConnect(addr string) int32 { return rbSockConnect(sptr(addr), uint32(len(addr))) }
func (*wasmHost) SockRead(h int32, buf []byte, timeoutMs int32) int32 {
	return rbSockRead(h, ptr(buf), uint32(len(buf)), timeoutMs)
}
func (*wasmHost) SockWrite(h int32, p []byte) int32 { return rbSockWrite(h, ptr(p), uint32(len(p))) }
func (*wasmHost) SockClose(h int32) int32           { return rbSockClose(h) }
func (*wasmHost) SockTLS(h int32, params, msg []byte) int32 {
	return rbSockTLS(h, ptr(params), uint32(len(params)), ptr(msg), uint32(len(msg)))
}
func (*wasmHost) IsCancelled() int32 { return rbIsCancelled() }
func (*wasmHost) FollowState(buf []byte) int32 {
	return rbFollowState(ptr(buf), uint32(len(buf)))
}
