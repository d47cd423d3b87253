package dest

import "math/rand/v2"

// keyIndex maps encoded keys to int32 values: an open-addressing table over
// an arena of the keys' bytes. Against a map[string]int32 it hashes a key
// once per lookup-or-insert instead of twice (Go's string hash on wasm is
// its slow portable fallback), allocates nothing per key once grown, and
// holds no pointers for the garbage collector to scan. The hash is seeded
// at random per index: keys come from whoever writes to the source, and
// with a fixed hash they could pick keys that collide in the table and make
// each batch quadratic.
type keyIndex struct {
	slots []int32 // 1 + an index into ents; 0 is empty. A power of two long.
	ents  []keyEntry
	arena []byte
	seed  uint32
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
	h := x.hash(k)
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
	if x.slots == nil {
		x.seed = rand.Uint32()
	}
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

// hash is FNV-1a of b from a seeded offset basis, finished with
// MurmurHash3's avalanche so that the seed reaches the table's low bits.
func (x *keyIndex) hash(b []byte) uint32 {
	h := 2166136261 ^ x.seed
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	return h ^ h>>16
}
