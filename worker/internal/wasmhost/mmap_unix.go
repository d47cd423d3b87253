//go:build linux || darwin

package wasmhost

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapAllocator backs each guest memory with one anonymous mapping of its
// maximum size, reserved without committing (MAP_NORESERVE): the memory
// never moves or gets copied on memory.grow, untouched pages cost nothing,
// and the OS zero-fills pages on first touch (unlike a Go allocation of the
// maximum, which the Go runtime may zero eagerly).
type mmapAllocator struct{}

func newMemoryAllocator() experimental.MemoryAllocator { return mmapAllocator{} }

func (mmapAllocator) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 || maxBytes > 4<<30 {
		return nil
	}
	buf, err := syscall.Mmap(-1, 0, int(maxBytes), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return &mmapMemory{buf: buf}
}

type mmapMemory struct{ buf []byte }

// Reallocate returns the first size bytes of the mapping (nil beyond it).
func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free unmaps the memory.
func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
