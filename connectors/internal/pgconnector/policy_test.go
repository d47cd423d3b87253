package pgconnector

import (
	"context"
	"errors"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestWriteRejectsUnsupportedDataErrorPolicy(t *testing.T) {
	for _, policy := range []string{"skip", "dlq"} {
		t.Run(policy, func(t *testing.T) {
			err := (&Destination{}).Write(context.Background(), sdk.WriteRequest{Stream: abi.StreamSpec{Name: "t", OnDataError: policy}}, nil)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Envelope.Category != abi.CategoryConfig || se.Envelope.Code != "unsupported_policy" {
				t.Fatalf("Write with on_data_error %s = %v, want a config error unsupported_policy", policy, err)
			}
		})
	}
}
