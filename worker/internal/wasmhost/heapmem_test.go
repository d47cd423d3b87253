package wasmhost

import (
	"bytes"
	"testing"
)

func TestHeapMemoryGrows(t *testing.T) {
	m := heapAllocator{}.Allocate(0, 64<<20).(*heapMemory)
	b := m.Reallocate(pageSize)
	if len(b) != pageSize {
		t.Fatalf("len %d", len(b))
	}
	copy(b, "guest data")
	reallocs := 0
	for size := uint64(2 * pageSize); size <= 40<<20; size += pageSize {
		before := cap(m.buf)
		nb := m.Reallocate(size)
		if uint64(len(nb)) != size {
			t.Fatalf("Reallocate(%d) returned %d bytes", size, len(nb))
		}
		if cap(nb) != before {
			reallocs++
		}
		if !bytes.HasPrefix(nb, []byte("guest data")) {
			t.Fatalf("Reallocate(%d) lost the contents", size)
		}
		if nb[size-1] != 0 || nb[size-pageSize] != 0 {
			t.Fatalf("Reallocate(%d): new page is not zero", size)
		}
	}
	if reallocs > 10 {
		t.Errorf("%d reallocations growing to 40 MiB one page at a time; want capacity doubling", reallocs)
	}
	if m.Reallocate(64<<20+pageSize) != nil {
		t.Error("Reallocate past the maximum succeeded")
	}
	if cap(m.Reallocate(64<<20)) > 64<<20 {
		t.Error("capacity exceeds the maximum")
	}
	m.Free()
}

func TestHeapMemoryPipelineLimit(t *testing.T) {
	for _, tc := range []struct {
		name         string
		limit, max   uint64
		wantGrowTo   uint64
		wantRefusing uint64
	}{
		{"limit below runtime cap", 8 << 20, 64 << 20, 8 << 20, 8<<20 + pageSize},
		{"limit above runtime cap is ignored", 128 << 20, 64 << 20, 64 << 20, 64<<20 + pageSize},
		{"no limit", 0, 64 << 20, 64 << 20, 64<<20 + pageSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := heapAllocator{limit: tc.limit}.Allocate(0, tc.max).(*heapMemory)
			if b := m.Reallocate(tc.wantGrowTo); uint64(len(b)) != tc.wantGrowTo {
				t.Fatalf("Reallocate(%d) = %d bytes", tc.wantGrowTo, len(b))
			}
			if m.Reallocate(tc.wantRefusing) != nil {
				t.Errorf("Reallocate(%d) succeeded past the limit", tc.wantRefusing)
			}
		})
	}
}

func TestHeapMemoryReserve(t *testing.T) {
	m := heapAllocator{reserve: 32 << 20}.Allocate(6<<20, 512<<20).(*heapMemory)
	first := m.Reallocate(6 << 20)
	for size := uint64(7 << 20); size <= 32<<20; size += 1 << 20 {
		if b := m.Reallocate(size); &b[0] != &first[0] {
			t.Fatalf("Reallocate(%d) moved the memory within the reserve", size)
		}
	}
	if m := (heapAllocator{limit: 8 << 20, reserve: 32 << 20}).Allocate(0, 512<<20).(*heapMemory); cap(m.buf) != 8<<20 {
		t.Errorf("reserve above the limit: capacity %d, want the limit", cap(m.buf))
	}
}

// A closed guest's memory is reused by the next instance, zeroed up to
// what the first touched, and never beyond the next instance's cap.
func TestHeapMemoryPooled(t *testing.T) {
	a := heapAllocator{reserve: 32 << 20}
	reused := 0
	for range 20 { // sync.Pool may hand out another entry, or none
		m := a.Allocate(0, 512<<20).(*heapMemory)
		b := m.Reallocate(1 << 20)
		for i := range b {
			b[i] = 0xff
		}
		first := &b[0]
		m.Free()
		if small := (heapAllocator{limit: 8 << 20, reserve: 32 << 20}).Allocate(0, 512<<20).(*heapMemory); cap(small.buf) != 8<<20 {
			t.Fatalf("an 8 MiB-capped guest got a pooled %d-byte memory", cap(small.buf))
		}
		m2 := a.Allocate(0, 512<<20).(*heapMemory)
		b2 := m2.Reallocate(2 << 20)
		if bytes.ContainsFunc(b2, func(r rune) bool { return r != 0 }) {
			t.Fatal("reused memory not zero")
		}
		if &b2[0] == first {
			reused++
		}
		m2.Free()
	}
	if reused == 0 {
		t.Error("freed guest memory never reused")
	}
}
