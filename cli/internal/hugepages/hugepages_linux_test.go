package hugepages

import (
	"bufio"
	"fmt"
	"os"
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
	advised := 0
	for range 16 {
		b := make([]byte, 1<<20)
		if huge, err := advisedAt(uintptr(unsafe.Pointer(&b[0]))); err != nil {
			t.Fatal(err)
		} else if huge {
			advised++
		}
	}
	if advised < 12 {
		t.Errorf("%d of 16 later 1 MiB allocations are in advised mappings, want nearly all", advised)
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
