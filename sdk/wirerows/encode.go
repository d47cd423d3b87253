package wirerows

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// encode runs an encoding op (abi.WireEncodeFixed and the rest) over mem
// with the block a. A panic on an index out of range is Run's to recover.
func encode(mem []byte, op abi.WireRowsOp, a []uint64) error {
	// Bound every count by the memory before anything is multiplied: no
	// product wraps, and no loop runs longer than the memory is large.
	m, width, first := a[abi.WireEncRows], a[abi.WireEncWidth], a[abi.WireEncFirst]
	size := uint64(len(mem))
	if m > size/8 || width > size || first > size*8 {
		return ErrOutOfRange
	}
	c := column{
		cur:      span(mem, a[abi.WireEncCursors], m*8),
		dst:      span(mem, a[abi.WireEncDst], a[abi.WireEncDstLen]),
		values:   span(mem, a[abi.WireEncValues], a[abi.WireEncValuesLen]),
		validity: span(mem, a[abi.WireEncValidity], a[abi.WireEncValidityLen]),
		first:    int(first),
		m:        int(m),
	}
	switch op {
	case abi.WireEncodeFixed:
		if width != 2 && width != 4 && width != 8 {
			return fmt.Errorf("wirerows: fixed width %d", width)
		}
		c.fixed(int(width), int64(a[abi.WireEncParam]))
	case abi.WireEncodeBool:
		c.boolean()
	case abi.WireEncodeBytes:
		c.bytes(span(mem, a[abi.WireEncOffsets], a[abi.WireEncOffsetsLen]), a[abi.WireEncParam])
	case abi.WireEncodeSlots:
		if width < 4 {
			return fmt.Errorf("wirerows: slot width %d", width)
		}
		c.slots(int(width))
	default:
		return fmt.Errorf("%w %d", ErrBadOp, op)
	}
	return nil
}

// column is one column of an encoding op: its inputs, the output buffer
// and the rows' cursors into it.
type column struct {
	cur, dst, values, validity []byte
	first, m                   int
}

// null is the length of a NULL field.
const null = math.MaxUint32

// field returns where row j's field starts in dst and whether it is NULL,
// in which case it stores the NULL length and advances the cursor.
func (c *column) field(j int) (q int, isNull bool) {
	q = int(int64(binary.LittleEndian.Uint64(c.cur[j*8:])))
	if len(c.validity) > 0 {
		if i := c.first + j; c.validity[i>>3]&(1<<(i&7)) == 0 {
			binary.BigEndian.PutUint32(c.dst[q:q+4], null)
			c.advance(j, q+4)
			return q, true
		}
	}
	return q, false
}

func (c *column) advance(j, q int) { binary.LittleEndian.PutUint64(c.cur[j*8:], uint64(q)) }

// fixed writes values of width 2, 4 or 8 bytes big-endian, less shift
// unless a value is its width's minimum or maximum.
func (c *column) fixed(width int, shift int64) {
	vals := c.values[:c.m*width]
	for j := range c.m {
		q, isNull := c.field(j)
		if isNull {
			continue
		}
		v, f := vals[j*width:(j+1)*width], c.dst[q:q+4+width]
		binary.BigEndian.PutUint32(f, uint32(width))
		switch width {
		case 2:
			x := int16(binary.LittleEndian.Uint16(v))
			if x != math.MaxInt16 && x != math.MinInt16 {
				x -= int16(shift)
			}
			binary.BigEndian.PutUint16(f[4:], uint16(x))
		case 4:
			x := int32(binary.LittleEndian.Uint32(v))
			if x != math.MaxInt32 && x != math.MinInt32 {
				x -= int32(shift)
			}
			binary.BigEndian.PutUint32(f[4:], uint32(x))
		default:
			x := int64(binary.LittleEndian.Uint64(v))
			if x != math.MaxInt64 && x != math.MinInt64 {
				x -= shift
			}
			binary.BigEndian.PutUint64(f[4:], uint64(x))
		}
		c.advance(j, q+4+width)
	}
}

func (c *column) boolean() {
	for j := range c.m {
		q, isNull := c.field(j)
		if isNull {
			continue
		}
		i := c.first + j
		f := c.dst[q : q+5]
		binary.BigEndian.PutUint32(f, 1)
		f[4] = c.values[i>>3] >> (i & 7) & 1
		c.advance(j, q+5)
	}
}

// bytes copies each value, after the version byte param-1 when param > 0.
// An offset outside values, or one below its predecessor, panics as out of
// range; so the values copied add up to at most len(values), wherever the
// cursors point.
func (c *column) bytes(offsets []byte, param uint64) {
	offs := offsets[:(c.m+1)*4]
	pre := 0
	if param > 0 {
		pre = 1
	}
	for j := range c.m {
		q, isNull := c.field(j)
		if isNull {
			continue
		}
		s := int(int32(binary.LittleEndian.Uint32(offs[j*4:])))
		e := int(int32(binary.LittleEndian.Uint32(offs[j*4+4:])))
		v := c.values[s:e]
		f := c.dst[q : q+4+pre+len(v)]
		binary.BigEndian.PutUint32(f, uint32(pre+len(v)))
		if pre > 0 {
			f[4] = byte(param - 1)
		}
		copy(f[4+pre:], v)
		c.advance(j, q+len(f))
	}
}

// slots copies each row's encoded field from its slot of width bytes. A
// length that does not fit the slot panics as out of range.
func (c *column) slots(width int) {
	slots := c.values[:c.m*width]
	for j := range c.m {
		q := int(int64(binary.LittleEndian.Uint64(c.cur[j*8:])))
		s := slots[j*width : (j+1)*width]
		n := 4
		if l := binary.BigEndian.Uint32(s); l != null {
			n += int(l)
		}
		c.advance(j, q+copy(c.dst[q:q+n], s[:n]))
	}
}
