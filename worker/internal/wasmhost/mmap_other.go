//go:build !linux && !darwin

package wasmhost

import "github.com/tetratelabs/wazero/experimental"

// newMemoryAllocator returns nil: wazero's default allocator is used.
func newMemoryAllocator() experimental.MemoryAllocator { return nil }
