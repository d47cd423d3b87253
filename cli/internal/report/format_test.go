package report

import (
	"testing"
)

func TestCount(t *testing.T) {
	tests := map[uint64]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567"}
	for in, want := range tests {
		if got := Count(in); got != want {
			t.Errorf("Count(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	tests := map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KB", 1536: "1.50 KB", 174 * 1024 * 1024: "174.00 MB", 3 << 30: "3.00 GB"}
	for in, want := range tests {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSecs(t *testing.T) {
	tests := map[float64]string{0: "0.000s", 0.1234: "0.123s", 12.345: "12.35s", 125: "2m05.0s", 3725: "1h02m05.0s", -1: "-"}
	for in, want := range tests {
		if got := Secs(in); got != want {
			t.Errorf("Secs(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestShortDigest(t *testing.T) {
	tests := map[string]string{"sha256:0123456789abcdef": "sha256:0123456789ab", "abc": "abc", "": ""}
	for in, want := range tests {
		if got := ShortDigest(in); got != want {
			t.Errorf("ShortDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
