package bufpool

import "testing"

func TestClasses(t *testing.T) {
	a := &Allocator{}
	for _, tc := range []struct{ size, cap int }{
		{1, 1},
		{32 << 10, 32 << 10}, // not pooled: exact
		{32<<10 + 1, 64 << 10},
		{64 << 10, 64 << 10},
		{64<<10 + 1, 128 << 10},
		{3 << 20, 4 << 20},
	} {
		b := a.Allocate(tc.size)
		if len(b) != tc.size || cap(b) != tc.cap {
			t.Errorf("Allocate(%d): len %d cap %d, want cap %d", tc.size, len(b), cap(b), tc.cap)
		}
		a.Free(b)
	}
}

func TestClassBounds(t *testing.T) {
	if c := class(256 << 20); c != maxClass-minClass {
		t.Errorf("class(256 MiB) = %d", c)
	}
	if c := class(256<<20 + 1); c != -1 {
		t.Errorf("class(256 MiB + 1) = %d, want -1 (not pooled)", c)
	}
}

func TestReuse(t *testing.T) {
	a := &Allocator{}
	b := a.Allocate(100 << 10)
	b[0] = 42
	a.Free(b)
	// sync.Pool may drop an item at any time, so reuse is likely, not certain.
	for range 10 {
		c := a.Allocate(120 << 10)
		if len(c) != 120<<10 || cap(c) != 128<<10 {
			t.Fatalf("len %d cap %d", len(c), cap(c))
		}
		if &c[0] == &b[0] {
			return
		}
		a.Free(c)
	}
	t.Log("freed buffer not reused (the pool dropped it)")
}

func TestFreeForeign(t *testing.T) {
	a := &Allocator{}
	a.Free(nil)
	a.Free(make([]byte, 100<<10)) // not a class size: left to the GC
	if b := a.Allocate(100 << 10); cap(b) != 128<<10 {
		t.Fatalf("cap %d", cap(b))
	}
}

func TestReallocate(t *testing.T) {
	a := &Allocator{}
	b := a.Allocate(70 << 10)
	b[0], b[len(b)-1] = 1, 2
	c := a.Reallocate(200<<10, b)
	if len(c) != 200<<10 || c[0] != 1 || c[70<<10-1] != 2 {
		t.Fatalf("len %d, contents lost", len(c))
	}
	if d := a.Reallocate(100, c); len(d) != 100 || &d[0] != &c[0] {
		t.Fatal("shrinking moved the buffer")
	}
}
