package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// mib is the unit of the MB figures, as in the seed's output (binary megabytes).
const mib = 1024 * 1024

// Count formats n with thousands separators: 1234567 is "1,234,567".
func Count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Bytes formats a byte count with binary units and two decimals: "174.23 MB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KB", "MB", "GB", "TB"} {
		v /= unit
		if v < unit || u == "TB" {
			return fmt.Sprintf("%.2f %s", v, u)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// Secs formats a duration in seconds: "0.123s", "12.35s", "2m05.0s".
func Secs(s float64) string {
	switch {
	case s < 0 || math.IsNaN(s):
		return "-"
	case s < 1:
		return fmt.Sprintf("%.3fs", s)
	case s < 60:
		return fmt.Sprintf("%.2fs", s)
	}
	d := time.Duration(s * float64(time.Second))
	m := int(d / time.Minute)
	rest := (d - time.Duration(m)*time.Minute).Seconds()
	if m >= 60 {
		return fmt.Sprintf("%dh%02dm%04.1fs", m/60, m%60, rest)
	}
	return fmt.Sprintf("%dm%04.1fs", m, rest)
}

// rate divides n by secs, or returns 0 when secs is not positive.
func rate(n float64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return n / secs
}

// round keeps d decimals, so JSON output stays short and stable.
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// compactJSON marshals v without HTML escaping and without a trailing newline.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// WriteJSON writes v as one compact JSON line.
func WriteJSON(w io.Writer, v any) error {
	b, err := compactJSON(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
