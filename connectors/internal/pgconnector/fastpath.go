package pgconnector

import (
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// wireColumn returns how AppendWireRows converts type t:
// inline for fixed-width integers and floats, booleans, text, bytea and
// jsonb, timestamps and dates (epoch shift keeping the infinity sentinels), a
// batch at a time for numerics as decimal128, else through the generic
// decoder writing to w.
func wireColumn(t *pgarrow.Type, w pgarrow.Writer) batch.WireColumn {
	switch t.Kind {
	case pgarrow.KindInt64, pgarrow.KindFloat64:
		return batch.WireColumn{Kind: batch.WireBE64}
	case pgarrow.KindInt32, pgarrow.KindFloat32:
		return batch.WireColumn{Kind: batch.WireBE32}
	case pgarrow.KindInt16:
		return batch.WireColumn{Kind: batch.WireBE16}
	case pgarrow.KindBool:
		return batch.WireColumn{Kind: batch.WireBool}
	case pgarrow.KindText, pgarrow.KindBytes:
		return batch.WireColumn{Kind: batch.WireBytes}
	case pgarrow.KindTimestamp, pgarrow.KindTimestampTZ:
		return batch.WireColumn{Kind: batch.WireBE64Shift, Shift: pgarrow.EpochMicros}
	case pgarrow.KindDate:
		return batch.WireColumn{Kind: batch.WireBE32Shift, Shift: pgarrow.EpochDays}
	case pgarrow.KindJSONB:
		return batch.WireColumn{Kind: batch.WireVersionedBytes, Version: pgarrow.JSONBVersion}
	case pgarrow.KindDecimal128:
		return batch.WireColumn{Kind: batch.WireFixed, Fixed: pgarrow.NumericsToDecimal128(t.Scale)}
	}
	var dec pgarrow.Decoder
	return batch.WireColumn{Decode: func(src []byte) error { return dec.Decode(t, w, src) }}
}
