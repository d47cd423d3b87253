package dest

// keyIndex maps encoded keys to int32 values: an open-addressing table over
// an arena of the keys' bytes. Against a map[string]int32 it hashes a key
// once per lookup-or-insert instead of twice (Go's string hash on wasm is
// its slow portable fallback), allocates nothing per key once grown, and
// holds no pointers for the garbage collector to scan.
type keyIndex struct {
	slots []int32 // 1 + an index into ents; 0 is empty. A power of two long.
	ents  []keyEntry
	arena []byte
}

type keyEntry struct {
	off, n int32 // the key is arena[off : off+n]
	hash   uint32
	val    int32
}

// get returns the value of key k; when k is new it stores val for it and
// returns val, false.
func (x *keyIndex) get(k []byte, val int32) (int32, bool) {
	if 2*(len(x.ents)+1) > len(x.slots) {
		x.grow()
	}
	h := fnv1a(k)
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			x.ents = append(x.ents, keyEntry{off: int32(len(x.arena)), n: int32(len(k)), hash: h, val: val})
			x.arena = append(x.arena, k...)
			x.slots[i] = int32(len(x.ents))
			return val, false
		}
		if e := &x.ents[s-1]; e.hash == h && string(x.arena[e.off:e.off+e.n]) == string(k) {
			return e.val, true
		}
	}
}

// grow doubles the table (at least 1024 slots) and re-inserts the keys.
func (x *keyIndex) grow() {
	x.slots = make([]int32, max(1024, 2*len(x.slots)))
	mask := len(x.slots) - 1
	for j, e := range x.ents {
		i := int(e.hash) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = int32(j + 1)
	}
}

// reset forgets every key, keeping the memory.
func (x *keyIndex) reset() {
	clear(x.slots)
	x.ents, x.arena = x.ents[:0], x.arena[:0]
}

// fnv1a is the 32-bit FNV-1a hash of b.
func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}
