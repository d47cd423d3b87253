package hugepages

import (
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"
)

// AdviseHeap advises size bytes of the Go heap for transparent huge pages
// and returns how many it advised: 0 when it did nothing, which is when
// GODEBUG has disablethp=1, the system's THP setting is "never", or the
// kernel accounts every mapping against a strict commit limit
// (vm.overcommit_memory=2), where the untouched block would still count.
// It advises no more than the Go memory limit, and lifts that limit while
// it holds its blocks (held against it, they would make the runtime collect
// at every one). Call it once, while the heap is still small: before the
// work whose memory it is for.
func AdviseHeap(size int) int {
	limit := debug.SetMemoryLimit(-1)
	size = int(min(int64(size), limit))
	if size < chunk || disabled() {
		return 0
	}
	debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(limit)
	// Blocks of chunk bytes, each a span of its own. A span the runtime
	// takes from fresh address space is known to be zero and is not
	// touched; one that reuses pages freed earlier is cleared first, with
	// 4 KiB faults. Only the first few blocks can land on such pages (the
	// heap holds a few MiB at start-up), so small blocks bound that cost
	// where one large block would have been cleared whole.
	blocks := make([][]byte, 0, (size+chunk-1)/chunk)
	for n := 0; n < size; n += chunk {
		blocks = append(blocks, make([]byte, chunk))
	}
	advised := 0
	for _, b := range blocks {
		if unix.Madvise(b, unix.MADV_HUGEPAGE) == nil {
			advised += len(b)
		}
	}
	blocks = nil
	// Collect the blocks and return their pages to the OS, so the scavenger
	// has nothing left to release later. The advice stays on the mappings:
	// the runtime reuses the range without mapping it again.
	debug.FreeOSMemory()
	return advised
}

// chunk is the size of each block AdviseHeap allocates: a multiple of the
// 2 MiB huge page, and of the runtime's 8 KiB pages.
const chunk = 4 << 20

func disabled() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return true
		}
	}
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(b, []byte("[never]")) {
		return true
	}
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	return err != nil || strings.TrimSpace(string(b)) == "2"
}
