package abi

import "testing"

func TestFieldColumnRoundTrip(t *testing.T) {
	f := Field{Name: "amount", Type: "decimal128(12, 2)", Nullable: true, SourceType: "numeric(12,2)"}
	c := f.Column()
	if c.Name != f.Name || c.ArrowType != f.Type || c.Nullable != f.Nullable || c.SourceType != f.SourceType {
		t.Fatalf("Column() = %+v from %+v", c, f)
	}
	if back := c.Field(); back != f {
		t.Fatalf("Field() = %+v, want %+v", back, f)
	}
}
