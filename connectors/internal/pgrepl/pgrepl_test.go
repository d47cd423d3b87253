package pgrepl

import (
	"encoding/binary"
	"reflect"
	"testing"
	"time"
)

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		l, err := ParseLSN(s)
		if err != nil || l.String() != s {
			t.Errorf("ParseLSN(%q) = %v, %v", s, l, err)
		}
	}
	if l, _ := ParseLSN("16/B374D848"); l != 0x16_B374D848 {
		t.Errorf("ParseLSN = %#x", uint64(l))
	}
	for _, bad := range []string{"", "16", "16/", "/1", "G/1", "1/1/1", "100000000/0"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func TestXLogDataAndKeepalive(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 2, 3, 4000, time.UTC)
	b := append(append(append(be64(10), be64(20)...), be64(uint64(Micros(at)))...), "wal"...)
	x, err := ParseXLogData(b)
	if err != nil || x.WALStart != 10 || x.ServerWALEnd != 20 || !x.ServerTime.Equal(at) || string(x.WALData) != "wal" {
		t.Errorf("ParseXLogData = %+v, %v", x, err)
	}
	if _, err := ParseXLogData(b[:23]); err == nil {
		t.Error("short XLogData accepted")
	}
	k, err := ParseKeepalive(append(append(be64(30), be64(uint64(Micros(at)))...), 1))
	if err != nil || k.ServerWALEnd != 30 || !k.ServerTime.Equal(at) || !k.ReplyRequested {
		t.Errorf("ParseKeepalive = %+v, %v", k, err)
	}
	if _, err := ParseKeepalive(be64(30)); err == nil {
		t.Error("short keepalive accepted")
	}
}

func TestAppendStandbyStatus(t *testing.T) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	b := AppendStandbyStatus(nil, 0x16_B374D848, at, true)
	if len(b) != 34 || b[0] != 'r' || b[33] != 1 {
		t.Fatalf("status update %x", b)
	}
	for i := range 3 {
		if v := binary.BigEndian.Uint64(b[1+8*i:]); v != 0x16_B374D848 {
			t.Errorf("position %d = %#x", i, v)
		}
	}
	if got := Time(int64(binary.BigEndian.Uint64(b[25:]))); !got.Equal(at) {
		t.Errorf("clock %v, want %v", got, at)
	}
}

func TestParse(t *testing.T) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	ts := be64(uint64(Micros(at)))
	rel := []byte{'R', 0, 0, 0, 7}
	rel = append(rel, "public\x00events\x00"...)
	rel = append(rel, 'd', 0, 2)
	rel = append(rel, 1)
	rel = append(rel, "id\x00"...)
	rel = append(rel, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xff)
	rel = append(rel, 0)
	rel = append(rel, "amount\x00"...)
	rel = append(rel, 0, 0, 6, 0xa4, 0, 0, 0, 0x0e)
	for _, tc := range []struct {
		name string
		msg  []byte
		want any
	}{
		{"begin", append(append(append([]byte{'B'}, be64(100)...), ts...), 0, 0, 0, 9), &Begin{FinalLSN: 100, CommitTime: at, XID: 9}},
		{"commit", append(append(append([]byte{'C', 0}, be64(100)...), be64(120)...), ts...), &Commit{CommitLSN: 100, TransactionEndLSN: 120, CommitTime: at}},
		{"relation", rel, &Relation{RelationID: 7, Namespace: "public", Name: "events", ReplicaIdentity: 'd', Columns: []RelationColumn{
			{Flags: 1, Name: "id", DataType: 20, TypeModifier: -1}, {Name: "amount", DataType: 1700, TypeModifier: 14}}}},
		{"truncate", []byte{'T', 0, 0, 0, 2, 0, 0, 0, 0, 7, 0, 0, 0, 8}, &Truncate{RelationIDs: []uint32{7, 8}}},
		{"insert is not parsed here", []byte{'I', 0, 0, 0, 7, 'N'}, nil},
	} {
		got, err := Parse(tc.msg)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Parse = %#v, %v; want %#v", tc.name, got, err, tc.want)
		}
		if tc.want == nil {
			continue
		}
		for n := 1; n < len(tc.msg); n++ {
			if m, err := Parse(tc.msg[:n]); err == nil {
				t.Errorf("%s cut to %d bytes: Parse = %#v, no error", tc.name, n, m)
			}
		}
	}
	if _, err := Parse(nil); err == nil {
		t.Error("empty message accepted")
	}
}

// FuzzParse checks that no message makes the decoders panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte{'R', 0, 0, 0, 7, 'p', 0, 'e', 0, 'd', 0, 1, 1, 'i', 0, 0, 0, 0, 20, 0, 0, 0, 0})
	f.Add([]byte{'T', 0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
		_, _ = ParseXLogData(b)
		_, _ = ParseKeepalive(b)
		_, _ = ParseLSN(string(b))
	})
}
