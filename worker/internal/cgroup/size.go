package cgroup

import "math"

// baseReserve is the memory a worker keeps for itself (Go heap, gRPC
// buffers, batches in flight) before it counts guest slots.
const baseReserve = 256 << 20

// Size returns a worker's guest slots (max_streams) and Go memory limit
// (GOMEMLIMIT; 0 = leave it) for limits l on a node of numCPU cores whose
// guests may each grow to guestMem bytes. Slots are 2 per core of the CPU
// quota (guests mostly wait on their databases), and no more than the
// memory limit holds at guestMem each after baseReserve, at least 1: a
// worker then answers RESOURCE_EXHAUSTED when busy instead of being OOM
// killed. The Go limit is 90% of the memory limit.
func Size(l Limits, numCPU int, guestMem int64) (maxStreams int, goMemLimit int64) {
	maxStreams = 2 * numCPU
	if l.CPUs > 0 {
		maxStreams = 2 * int(math.Ceil(l.CPUs))
	}
	if l.MemoryBytes > 0 {
		goMemLimit = l.MemoryBytes / 10 * 9
		if guestMem > 0 {
			maxStreams = min(maxStreams, int(max(1, (l.MemoryBytes-baseReserve)/guestMem)))
		}
	}
	return max(1, maxStreams), goMemLimit
}

// GuestBudget returns the bytes of guest memory caps a worker under limits
// l may reserve at once: the memory limit minus baseReserve, at least one
// byte; 0 (no memory admission) when there is no memory limit.
func GuestBudget(l Limits) int64 {
	if l.MemoryBytes <= 0 {
		return 0
	}
	return max(1, l.MemoryBytes-baseReserve)
}
