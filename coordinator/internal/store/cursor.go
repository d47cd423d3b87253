package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// CursorKind says which field of a CursorValue is set.
type CursorKind string

// Cursor kinds, mirroring the oneof of rapidbyte.v1.CursorValue.
const (
	// CursorNone is "no position".
	CursorNone CursorKind = ""
	// CursorInt is an integer in Int.
	CursorInt CursorKind = "int"
	// CursorDouble is a float in Double.
	CursorDouble CursorKind = "double"
	// CursorString is text, uuid or similar in Text.
	CursorString CursorKind = "string"
	// CursorTimestampMicros is microseconds since the Unix epoch (UTC) in Int.
	CursorTimestampMicros CursorKind = "timestamp_micros"
	// CursorDateDays is days since the Unix epoch in Int.
	CursorDateDays CursorKind = "date_days"
	// CursorDecimal is exact decimal text in Text.
	CursorDecimal CursorKind = "decimal"
)

// CursorValue is a typed cursor position. Kind says which field is set:
// Int (int, timestamp_micros, date_days), Double (double) or Text (string,
// decimal). It round-trips losslessly through JSON, NaN included.
type CursorValue struct {
	Kind   CursorKind
	Int    int64
	Double float64
	Text   string
}

// IntCursor returns an integer cursor.
func IntCursor(v int64) CursorValue { return CursorValue{Kind: CursorInt, Int: v} }

// DoubleCursor returns a float cursor.
func DoubleCursor(v float64) CursorValue { return CursorValue{Kind: CursorDouble, Double: v} }

// StringCursor returns a text cursor.
func StringCursor(v string) CursorValue { return CursorValue{Kind: CursorString, Text: v} }

// TimestampCursor returns a timestamp cursor with microsecond precision.
func TimestampCursor(t time.Time) CursorValue {
	return CursorValue{Kind: CursorTimestampMicros, Int: t.UnixMicro()}
}

// DateCursor returns a date cursor from days since the Unix epoch.
func DateCursor(days int32) CursorValue { return CursorValue{Kind: CursorDateDays, Int: int64(days)} }

// DecimalCursor returns an exact numeric cursor from its decimal text.
func DecimalCursor(text string) CursorValue { return CursorValue{Kind: CursorDecimal, Text: text} }

// IsZero reports whether the value is "no position".
func (v CursorValue) IsZero() bool { return v.Kind == CursorNone }

type cursorJSON struct {
	Kind  CursorKind `json:"kind,omitempty"`
	Value string     `json:"value,omitempty"`
}

// MarshalJSON encodes the value as {"kind": ..., "value": "<text>"}.
func (v CursorValue) MarshalJSON() ([]byte, error) {
	j := cursorJSON{Kind: v.Kind}
	switch v.Kind {
	case CursorNone:
	case CursorInt, CursorTimestampMicros, CursorDateDays:
		j.Value = strconv.FormatInt(v.Int, 10)
	case CursorDouble:
		j.Value = strconv.FormatFloat(v.Double, 'g', -1, 64)
	case CursorString, CursorDecimal:
		j.Value = v.Text
	default:
		return nil, fmt.Errorf("marshal cursor: unknown kind %q", v.Kind)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON produced.
func (v *CursorValue) UnmarshalJSON(b []byte) error {
	var j cursorJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("unmarshal cursor: %w", err)
	}
	out := CursorValue{Kind: j.Kind}
	var err error
	switch j.Kind {
	case CursorNone:
	case CursorInt, CursorTimestampMicros:
		out.Int, err = strconv.ParseInt(j.Value, 10, 64)
	case CursorDateDays:
		out.Int, err = strconv.ParseInt(j.Value, 10, 32)
	case CursorDouble:
		out.Double, err = strconv.ParseFloat(j.Value, 64) // accepts NaN and ±Inf
	case CursorString, CursorDecimal:
		out.Text = j.Value
	default:
		return fmt.Errorf("unmarshal cursor: unknown kind %q", j.Kind)
	}
	if err != nil {
		return fmt.Errorf("unmarshal %s cursor: %w", j.Kind, err)
	}
	*v = out
	return nil
}
