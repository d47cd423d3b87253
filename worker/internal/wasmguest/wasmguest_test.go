package wasmguest

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

func TestConvertErr(t *testing.T) {
	cause := errors.New("cause")
	he := &wasmhost.Error{Connector: "c", Op: "read", Envelope: abi.ErrorEnvelope{Category: "data", Code: "bad"}, Err: cause}
	tests := []struct {
		name string
		in   error
		want *guest.Error
	}{
		{"host error", he, &guest.Error{Connector: "c", Op: "read", Envelope: he.Envelope, Err: cause}},
		{"wrapped host error", fmt.Errorf("x: %w", he), &guest.Error{Connector: "c", Op: "read", Envelope: he.Envelope, Err: cause}},
		{"other", io.EOF, nil},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := convertErr(tt.in)
			var ge *guest.Error
			if tt.want == nil {
				if !errors.Is(got, tt.in) || errors.As(got, &ge) {
					t.Errorf("convertErr(%v) = %v, want it unchanged", tt.in, got)
				}
				return
			}
			if !errors.As(got, &ge) || ge.Connector != tt.want.Connector || ge.Envelope != tt.want.Envelope || !errors.Is(got, cause) {
				t.Errorf("convertErr = %#v", got)
			}
		})
	}
}
