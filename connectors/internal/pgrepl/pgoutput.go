package pgrepl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// Begin starts a transaction (pgoutput 'B').
type Begin struct {
	FinalLSN   LSN // the transaction's commit record
	CommitTime time.Time
	XID        uint32
}

// Commit ends a transaction (pgoutput 'C').
type Commit struct {
	CommitLSN, TransactionEndLSN LSN
	CommitTime                   time.Time
}

// Relation describes a table before the first change to it in a session
// (pgoutput 'R').
type Relation struct {
	RelationID      uint32
	Namespace, Name string
	ReplicaIdentity byte
	Columns         []RelationColumn
}

// RelationColumn is one column of a Relation.
type RelationColumn struct {
	Flags        byte // 1: part of the key
	Name         string
	DataType     uint32 // type OID
	TypeModifier int32
}

// Truncate lists the relations a TRUNCATE emptied (pgoutput 'T').
type Truncate struct {
	Options     byte
	RelationIDs []uint32
}

// Parse decodes a pgoutput message of the kinds above; for any other kind
// (Insert, Update, Delete, Origin, Type, Message) it returns nil and no
// error.
func Parse(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("pgoutput: empty message")
	}
	d := decoder{b: b[1:]}
	var m any
	switch b[0] {
	case 'B':
		m = &Begin{FinalLSN: LSN(d.u64()), CommitTime: Time(int64(d.u64())), XID: d.u32()}
	case 'C':
		d.u8() // flags, unused
		m = &Commit{CommitLSN: LSN(d.u64()), TransactionEndLSN: LSN(d.u64()), CommitTime: Time(int64(d.u64()))}
	case 'R':
		r := &Relation{RelationID: d.u32(), Namespace: d.str(), Name: d.str(), ReplicaIdentity: d.u8()}
		n := int(d.u16())
		for i := 0; i < n && d.err == nil; i++ {
			r.Columns = append(r.Columns, RelationColumn{Flags: d.u8(), Name: d.str(), DataType: d.u32(), TypeModifier: int32(d.u32())})
		}
		m = r
	case 'T':
		n := int(d.u32())
		t := &Truncate{Options: d.u8()}
		for i := 0; i < n && d.err == nil; i++ {
			t.RelationIDs = append(t.RelationIDs, d.u32())
		}
		m = t
	default:
		return nil, nil
	}
	if d.err != nil {
		return nil, fmt.Errorf("pgoutput %q message: %w", b[0], d.err)
	}
	return m, nil
}

// decoder reads big-endian fields; the first short read sets err and
// every later read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		if d.err == nil {
			d.err = errShort
		}
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.take(8)) }

// str reads a NUL-terminated string.
func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	i := bytes.IndexByte(d.b, 0)
	if i < 0 {
		d.err = errShort
		return ""
	}
	s := string(d.b[:i])
	d.b = d.b[i+1:]
	return s
}
