// Package hugepages asks Linux to back the low part of the Go heap with
// transparent huge pages.
//
// A run's process touches a few hundred MiB of fresh memory: wazero
// decoding, validating and loading two connector modules, the guests'
// linear memories, Arrow and gRPC buffers. Each first touch of a 4 KiB page
// is a page fault, and on virtual machines a fault is expensive: on the
// 2-core test VMs 8-9 µs, so an embedded 1M-row copy spent about 0.9 of its
// 2.2 CPU-s in the kernel, nearly all of it on 55,000-60,000 faults. A
// 2 MiB huge page takes one fault where 4 KiB pages take 512.
//
// The Go runtime does not ask for huge pages itself (where the system
// setting is "madvise", the common default, the heap gets 4 KiB pages), and
// it maps each new piece of heap with a fresh mmap, which would drop any
// advice given before. So AdviseHeap has the runtime map the range first:
// while the heap is nearly empty it allocates the range in 4 MiB blocks,
// advises them (madvise MADV_HUGEPAGE), and frees them. The runtime's page
// allocator hands out the lowest free addresses first, so the heap the
// process grows into afterwards is that advised range. Untouched, the
// blocks cost no memory; docs/rationale.md has the measurements.
//
// It suits a short-lived process such as an embedded run. A long-lived one
// under a memory limit should not use it: khugepaged may rebuild huge pages
// over memory the runtime returned, so RSS can exceed what the runtime
// counts (golang/go#64332).
package hugepages
