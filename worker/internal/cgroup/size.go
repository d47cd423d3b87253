package cgroup

import "math"

// baseReserve is the memory a worker keeps for itself (Go heap, gRPC
// buffers, batches in flight, loaded modules) before it counts guest
// memory. Measured: one wide stream at a time with 40 MiB guests peaked at
// 355 MB in a 1 GiB container (105 MB of Go heap in use after it); a
// 256 MiB worker keeping 128 MiB was OOM-killed under three such guests.
const baseReserve = 256 << 20

// Size returns a worker's guest slots (max_streams) and Go memory limit
// (GOMEMLIMIT; 0 = leave it) for limits l on a node of numCPU cores. Slots
// are 2 per started core of the CPU quota, else of the node (guests mostly
// wait on their databases); memory is bounded by admission against
// GuestBudget, not by slots. The Go limit is 90% of the memory limit.
func Size(l Limits, numCPU int) (maxStreams int, goMemLimit int64) {
	maxStreams = 2 * numCPU
	if l.CPUs > 0 {
		maxStreams = 2 * int(math.Ceil(l.CPUs))
	}
	if l.MemoryBytes > 0 {
		goMemLimit = l.MemoryBytes / 10 * 9
	}
	return max(1, maxStreams), goMemLimit
}

// GuestBudget returns the bytes of guest memory caps a worker under limits
// l may reserve at once: the memory limit less the worker's own 256 MiB, at
// least one byte (a worker under 512 MiB can hardly run a guest: see
// MinMemory); 0 (no memory admission) when there is no memory limit.
func GuestBudget(l Limits) int64 {
	if l.MemoryBytes <= 0 {
		return 0
	}
	return max(1, l.MemoryBytes-baseReserve)
}

// GuestMemory returns the default guest memory cap of a worker under
// limits l: defaultCap, or half of GuestBudget (in whole MiB, at least one)
// when that is smaller, so that one stream's read and write always fit
// together.
func GuestMemory(l Limits, defaultCap int64) int64 {
	if b := GuestBudget(l); b > 0 {
		return max(1<<20, min(defaultCap, b/2&^(1<<20-1)))
	}
	return defaultCap
}

// MinMemory is the smallest memory limit a worker is useful under: its
// reserve and one stream's two guests of 64 MiB.
const MinMemory = baseReserve + 2*64<<20
