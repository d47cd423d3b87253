package pipeline

import "testing"

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"0", 0, false},
		{"65536", 65536, false},
		{"64mb", 64 << 20, false},
		{"64MB", 64 << 20, false},
		{"64 MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"1gb", 1 << 30, false},
		{"2k", 2048, false},
		{"512b", 512, false},
		{"1.5kb", 1536, false},
		{"1_000", 1000, false},
		{"1tb", 1 << 40, false},
		{"8388607tb", 8388607 << 40, false},
		{"8388608tb", 0, true},
		{"", 0, true},
		{"mb", 0, true},
		{"-1", 0, true},
		{"1.1b", 0, true},
		{"12 parsecs", 0, true},
		{"1..2mb", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"streams", "sync_mode", "cursor_field", "write_mode", "max_retries"}
	tests := []struct{ in, want string }{
		{"strems", "streams"},
		{"Streams", "streams"},
		{"cursor_feild", "cursor_field"},
		{"max_retry", "max_retries"},
		{"x", ""},
		{"completely_unrelated", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := suggest(tt.in, keys); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
