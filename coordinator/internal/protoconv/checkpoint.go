package protoconv

import (
	"time"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// CheckpointToProto converts a checkpoint; nil stays nil.
func CheckpointToProto(c *store.Checkpoint) *rapidbytev1.Checkpoint {
	if c == nil {
		return nil
	}
	return &rapidbytev1.Checkpoint{
		Id:              c.ID,
		Stream:          c.Stream,
		Partition:       c.Partition,
		CursorField:     c.CursorField,
		CursorValue:     CursorToProto(c.CursorValue),
		TieBreakerField: c.TieBreakerField,
		TieBreakerValue: CursorToProto(c.TieBreakerValue),
		Records:         c.Records,
		Bytes:           c.Bytes,
		Log:             logToProto(c.Log),
	}
}

func logToProto(l *store.LogPosition) *rapidbytev1.LogPosition {
	if l == nil {
		return nil
	}
	p := &rapidbytev1.LogPosition{Position: l.Position, Head: l.Head}
	if !l.CommitTime.IsZero() {
		p.CommitTimeMicros = l.CommitTime.UnixMicro()
	}
	return p
}

func logFromProto(p *rapidbytev1.LogPosition) *store.LogPosition {
	if p == nil {
		return nil
	}
	l := &store.LogPosition{Position: p.GetPosition(), Head: p.GetHead()}
	if us := p.GetCommitTimeMicros(); us > 0 {
		l.CommitTime = time.UnixMicro(us)
	}
	return l
}

// CheckpointFromProto converts a proto checkpoint; nil stays nil.
func CheckpointFromProto(p *rapidbytev1.Checkpoint) *store.Checkpoint {
	if p == nil {
		return nil
	}
	return &store.Checkpoint{
		ID:              p.GetId(),
		Stream:          p.GetStream(),
		Partition:       p.GetPartition(),
		CursorField:     p.GetCursorField(),
		CursorValue:     CursorFromProto(p.GetCursorValue()),
		TieBreakerField: p.GetTieBreakerField(),
		TieBreakerValue: CursorFromProto(p.GetTieBreakerValue()),
		Records:         p.GetRecords(),
		Bytes:           p.GetBytes(),
		Log:             logFromProto(p.GetLog()),
	}
}

// CursorToProto converts a cursor value; "no position" becomes nil.
func CursorToProto(v store.CursorValue) *rapidbytev1.CursorValue {
	switch v.Kind {
	case store.CursorInt:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_IntValue{IntValue: v.Int}}
	case store.CursorDouble:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_DoubleValue{DoubleValue: v.Double}}
	case store.CursorString:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_StringValue{StringValue: v.Text}}
	case store.CursorTimestampMicros:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_TimestampMicros{TimestampMicros: v.Int}}
	case store.CursorDateDays:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_DateDays{DateDays: int32(v.Int)}}
	case store.CursorDecimal:
		return &rapidbytev1.CursorValue{Value: &rapidbytev1.CursorValue_DecimalValue{DecimalValue: v.Text}}
	default:
		return nil
	}
}

// CursorFromProto converts a proto cursor value; nil or unset is "no position".
func CursorFromProto(p *rapidbytev1.CursorValue) store.CursorValue {
	switch v := p.GetValue().(type) {
	case *rapidbytev1.CursorValue_IntValue:
		return store.IntCursor(v.IntValue)
	case *rapidbytev1.CursorValue_DoubleValue:
		return store.DoubleCursor(v.DoubleValue)
	case *rapidbytev1.CursorValue_StringValue:
		return store.StringCursor(v.StringValue)
	case *rapidbytev1.CursorValue_TimestampMicros:
		return store.CursorValue{Kind: store.CursorTimestampMicros, Int: v.TimestampMicros}
	case *rapidbytev1.CursorValue_DateDays:
		return store.DateCursor(v.DateDays)
	case *rapidbytev1.CursorValue_DecimalValue:
		return store.DecimalCursor(v.DecimalValue)
	default:
		return store.CursorValue{}
	}
}
