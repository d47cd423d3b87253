package wasmhost

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// heapAllocator backs each guest memory with a Go slice whose capacity
// doubles when memory.grow needs more. wazero's default backing appends
// exactly the pages asked for and lets append grow the slice by about 1.25x,
// and a Go guest grows its memory in small steps, so a guest reaching
// 40-50 MiB had its memory reallocated and copied over and over
// (runtime.memmove under MemoryInstance.Grow: about 1.5 CPU-s per 1M rows
// of a PostgreSQL copy; 0.4 with doubling). Being Go memory, a slice a
// host function still holds stays valid after the instance is closed
// (unlike an unmapped region, see Config.FixedMemory).
//
// limit, when non-zero, lowers the instance's memory cap below the
// runtime's (the pipeline's resources.max_memory): a memory.grow past it
// fails, and a Go guest reports "out of memory".
//
// reserve, when non-zero, is the least capacity of the first slice (up to
// the cap), so a guest growing to that size never copies its memory.
//
// A closed instance's memory (and the smaller slice a growth replaced) goes
// to guestMemPool, and the next instance reuses it, cleared up to what the
// last one touched: every stream of a run instantiates two guests of 32-64
// MiB, and as garbage each one stayed resident until the next collection,
// which the live heap (modules, running guests) put hundreds of MiB away.
type heapAllocator struct{ limit, reserve uint64 }

// guestMemPool holds freed guest memories of at least minPooled bytes of
// capacity, as *[]byte whose length is the part that may hold data. Being a
// sync.Pool, it drops what stays unused over two collections.
var guestMemPool sync.Pool

// minPooled is the least capacity worth pooling: a stream's reserve.
const minPooled = streamMemoryReserve

// pooled returns a zeroed slice of length 0 and a capacity from want to
// most from the pool, or nil.
func pooled(want, most uint64) []byte {
	p, _ := guestMemPool.Get().(*[]byte)
	if p == nil {
		return nil
	}
	if c := uint64(cap(*p)); c < want || c > most {
		guestMemPool.Put(p)
		return nil
	}
	clear(*p)
	return (*p)[:0]
}

// release puts a guest memory no instance uses any more into the pool.
func release(b []byte) {
	if cap(b) >= minPooled {
		guestMemPool.Put(&b)
	}
}

// streamMemoryReserve is the reserve of an instance that reads or writes a
// stream: a PostgreSQL source or destination with 16k-row batches uses
// 13-27 MiB, which doubling from the module's initial 6 MiB reached with
// two or three copies (about 0.05 CPU-s of memmove and zeroing per run).
// The capacity past what the guest touches stays untouched (only the pages
// a guest uses become resident).
const streamMemoryReserve = 32 << 20

// pageSize is the wasm page size.
const pageSize = 64 << 10

// Allocate implements experimental.MemoryAllocator.
func (a heapAllocator) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 || maxBytes > 4<<30 {
		maxBytes = 4 << 30
	}
	if a.limit > 0 && a.limit < maxBytes {
		maxBytes = a.limit
	}
	want := min(max(capacity, a.reserve), maxBytes)
	buf := pooled(want, maxBytes)
	if buf == nil {
		buf = make([]byte, 0, want)
	}
	return &heapMemory{max: maxBytes, buf: buf}
}

// heapMemory is one guest memory (see heapAllocator).
type heapMemory struct {
	buf []byte
	max uint64
}

// Reallocate implements experimental.LinearMemory. Bytes past the current
// length are zero: they come from make, and the guest never saw them (wasm
// memory does not shrink).
func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := max(size, 2*uint64(cap(m.buf)))
	newCap = min((newCap+pageSize-1)/pageSize*pageSize, m.max)
	nb := pooled(newCap, m.max)
	if nb == nil {
		nb = make([]byte, 0, newCap)
	}
	nb = nb[:size]
	copy(nb, m.buf)
	release(m.buf)
	m.buf = nb
	return nb
}

// Free implements experimental.LinearMemory: the slice goes to the pool
// (wazero calls Free once the instance is closed, when no guest code runs
// on it and host functions hold no view of it any more).
func (m *heapMemory) Free() {
	release(m.buf)
	m.buf = nil
}
