package pipeline

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the accepted size suffixes; all are binary multiples, as in
// the original Rapidbyte ("64mb" is 64 MiB).
var byteUnits = map[string]uint64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseByteSize parses a size such as "64mb", "1GiB", "1.5 gb" or "65536".
// Units are case-insensitive binary multiples (k, kb, kib = 1024). The
// result must be a whole number of bytes that fits in an int64.
func ParseByteSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '_') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, errors.New("want a size such as 64mb, 1GiB or 65536")
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, errors.New("unknown size unit " + strconv.Quote(unit) + ": use b, kb, mb, gb or tb (binary multiples)")
	}
	num = strings.ReplaceAll(num, "_", "")
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, errors.New("size is too large")
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errors.New("want a size such as 64mb, 1GiB or 65536")
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, errors.New("size is too large")
	}
	if v != math.Trunc(v) {
		return 0, errors.New("size is not a whole number of bytes")
	}
	return uint64(v), nil
}
