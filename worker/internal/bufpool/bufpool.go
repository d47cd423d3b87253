// Package bufpool recycles the large byte buffers that carry Arrow record
// batch bodies through the worker: the copy of a batch a source emits out
// of guest memory, and the body of a batch received for a destination.
// Each is a few MiB, one per batch; allocating them fresh made the
// garbage collector run every few batches and zero each new buffer.
//
// Allocator implements Arrow's memory.Allocator, so a buffer comes back
// when the last reference to the memory.Buffer holding it is released.
// A buffer that is never released (a dropped record) is simply collected.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	// minClass is the log2 of the smallest pooled size: requests of half
	// of it or less are plain allocations.
	minClass = 16 // 64 KiB
	// maxClass is the log2 of the largest pooled size.
	maxClass = 28 // 256 MiB
)

// Allocator is a memory.Allocator whose buffers of more than 32 KiB and up
// to 256 MiB come from size classes of powers of two (64 KiB and up), each
// a sync.Pool. Memory it returns
// is not zeroed. The zero value is not usable; use Default.
type Allocator struct {
	classes [maxClass - minClass + 1]sync.Pool
}

// Default is the worker's allocator for batch bodies.
var Default = &Allocator{}

// class returns the size class index for size, or -1 when size is not
// pooled.
func class(size int) int {
	if size <= 0 || size > 1<<maxClass {
		return -1
	}
	c := bits.Len(uint(size - 1))
	if c < minClass {
		return -1
	}
	return c - minClass
}

// Allocate implements memory.Allocator: a slice of length size whose
// contents are unspecified (the previous user's bytes, or zeros).
func (a *Allocator) Allocate(size int) []byte {
	c := class(size)
	if c < 0 {
		return make([]byte, size)
	}
	if p, ok := a.classes[c].Get().(*[]byte); ok {
		return (*p)[:size]
	}
	return make([]byte, size, 1<<(c+minClass))
}

// Reallocate implements memory.Allocator.
func (a *Allocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

// Free implements memory.Allocator. b must not be used afterwards; a slice
// that Allocate did not pool is left to the garbage collector.
func (a *Allocator) Free(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minClass) {
		return
	}
	b = b[:cap(b)]
	a.classes[c].Put(&b)
}
