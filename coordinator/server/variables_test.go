package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestVariablesComeFromClientOrAllowList checks the variable-source policy
// of a coordinator: ${VAR} resolves from the variables the request carries,
// from the coordinator's environment only for names on EnvAllow, and never
// from the rest of its environment (its token, its state URL).
func TestVariablesComeFromClientOrAllowList(t *testing.T) {
	t.Setenv("RB_SECTEST_HOST", "db")
	t.Setenv("RB_SECTEST_TOKEN", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	workerAddr := startWorker(t)
	yaml := func(name string) string {
		return `version: "1.0"
pipeline: vars
source:
  use: source-x
  config: {host: "${` + name + `}"}
  streams:
    - {name: users}
destination:
  use: dest-y
  config: {host: db2}
`
	}
	tests := []struct {
		name  string
		allow []string
		ref   string
		vars  map[string]string
		ok    bool
	}{
		{"environment refused", nil, "RB_SECTEST_TOKEN", nil, false},
		{"not on the allow-list", []string{"RB_SECTEST_H*"}, "RB_SECTEST_TOKEN", nil, false},
		{"on the allow-list", []string{"RB_SECTEST_H*"}, "RB_SECTEST_HOST", nil, true},
		{"sent by the client", nil, "RB_SECTEST_TOKEN", map[string]string{"RB_SECTEST_TOKEN": "db"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(ctx, t, Config{Workers: workerAddr, State: "sqlite://" + filepath.Join(t.TempDir(), "state.db"), EnvAllow: tt.allow})
			defer func() {
				s.stop()
				<-s.served
				_ = s.srv.Close()
			}()
			client := rapidbytev1.NewCoordinatorServiceClient(s.conn)
			resp, err := client.SubmitRun(ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: yaml(tt.ref), Wait: true, Variables: tt.vars})
			if tt.ok {
				if err != nil || resp.GetRun().GetState() != rapidbytev1.RunState_RUN_STATE_SUCCEEDED {
					t.Fatalf("SubmitRun = %v, %v; want a succeeded run", resp.GetRun().GetState(), err)
				}
				return
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.ref) {
				t.Fatalf("SubmitRun = %v; want InvalidArgument naming %s", err, tt.ref)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error holds the coordinator's secret: %v", err)
			}
		})
	}
}
