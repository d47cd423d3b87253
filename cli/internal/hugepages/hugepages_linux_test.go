package hugepages

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseHeapCoversLaterAllocations checks the premise of AdviseHeap:
// after it, the heap the process allocates from lies in mappings advised
// for huge pages ("hg" in /proc/self/smaps' VmFlags).
func TestAdviseHeapCoversLaterAllocations(t *testing.T) {
	if disabled() {
		t.Skip("transparent huge pages are off on this machine (or GODEBUG=disablethp=1)")
	}
	const size = 64 << 20
	if got := AdviseHeap(size); got != size {
		t.Fatalf("AdviseHeap(%d) = %d", size, got)
	}
	// The blocks stay alive, so each lands on free pages the others did
	// not take: the first may fill holes the heap had before AdviseHeap
	// (the test binary's, a few MiB at most), the rest come from the
	// advised blocks. Blocks dropped at once were collected and their
	// pages reused, so a hole could take any number of them: 11 of 16
	// once.
	const n = 32
	blocks := make([][]byte, n)
	advised := 0
	for i := range blocks {
		blocks[i] = make([]byte, 1<<20)
		if huge, err := advisedAt(uintptr(unsafe.Pointer(&blocks[i][0]))); err != nil {
			t.Fatal(err)
		} else if huge {
			advised++
		}
	}
	if advised < n*3/4 {
		t.Errorf("%d of %d later 1 MiB allocations are in advised mappings, want nearly all", advised, n)
	}
	runtime.KeepAlive(blocks)
}

// TestAdviseHeapUnderAMemoryLimit checks that a memory limit set before
// bounds the advice and is in force again afterwards.
func TestAdviseHeapUnderAMemoryLimit(t *testing.T) {
	if disabled() {
		t.Skip("transparent huge pages are off on this machine (or GODEBUG=disablethp=1)")
	}
	const limit = 32 << 20
	prev := debug.SetMemoryLimit(limit)
	defer debug.SetMemoryLimit(prev)
	if got := AdviseHeap(4 * limit); got != limit {
		t.Errorf("AdviseHeap(%d) under a %d-byte limit advised %d bytes", 4*limit, limit, got)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit after AdviseHeap = %d, want %d", got, limit)
	}
}

func TestAdviseHeapHonoursGODEBUG(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1,disablethp=1")
	if got := AdviseHeap(8 << 20); got != 0 {
		t.Errorf("AdviseHeap with disablethp=1 advised %d bytes", got)
	}
}

// advisedAt reports whether the mapping holding addr has VM_HUGEPAGE.
func advisedAt(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Contains(line, " hg"), nil
		}
	}
	return false, fmt.Errorf("no mapping holds %#x", addr)
}
