//go:build !linux

package hugepages

// AdviseHeap does nothing outside Linux and returns 0.
func AdviseHeap(size int) int { return 0 }
