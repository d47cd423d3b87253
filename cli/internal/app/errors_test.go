package app

import (
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// statusWith builds a gRPC status error carrying a ConnectorError.
func statusWith(t *testing.T, code codes.Code, msg string, ce *rapidbytev1.ConnectorError) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(protoadapt.MessageV1Of(ce))
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

var manifests = []*rapidbytev1.ConnectorManifest{
	{Id: "source-postgres", Version: "0.1.0", Roles: []rapidbytev1.Role{rapidbytev1.Role_ROLE_SOURCE}, Digest: "sha256:0123456789abcdef0123", Description: "Reads PostgreSQL tables."},
	{Id: "dest-postgres", Version: "0.1.0", Roles: []rapidbytev1.Role{rapidbytev1.Role_ROLE_DESTINATION}, Digest: "sha256:fedcba9876543210fedc", Description: "Writes PostgreSQL tables."},
}

// TestNewUserErrors checks that each mistake a new user makes prints one clear line
// on stderr, nothing on stdout, and exits non-zero.
func TestNewUserErrors(t *testing.T) {
	cfgErr := func(code, msg string) *rapidbytev1.ConnectorError {
		return &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: code, Message: msg}
	}
	tests := []struct {
		name    string
		err     error // the coordinator's answer to every pipeline call
		file    string
		cmd     string
		want    string
		wantRPC bool
	}{
		{
			name: "missing file",
			file: "missing.yaml",
			want: "error: pipeline file missing.yaml: no such file",
		},
		{
			name: "yaml syntax error",
			err:  statusWith(t, codes.InvalidArgument, "invalid pipeline", cfgErr("INVALID_PIPELINE", "3:9: mapping values are not allowed in this context")),
			want: "error: FILE:3:9: mapping values are not allowed in this context",
		},
		{
			name: "yaml syntax error with placeholder file name",
			err:  statusWith(t, codes.InvalidArgument, "invalid pipeline", cfgErr("INVALID_PIPELINE", "pipeline.yaml:7: did not find expected key")),
			cmd:  "check",
			want: "error: FILE:7: did not find expected key",
		},
		{
			name: "yaml.v3 style without details",
			err:  status.Error(codes.InvalidArgument, "yaml: line 2: found character that cannot start any token"),
			cmd:  "discover",
			want: "error: FILE:2: found character that cannot start any token",
		},
		{
			name: "unknown connector in validation",
			err: statusWith(t, codes.InvalidArgument, "invalid pipeline", cfgErr("INVALID_PIPELINE",
				`4:8: source.use: unknown connector "source-postgress" (did you mean "source-postgres"?)`)),
			want: `error: FILE:4:8: source.use: unknown connector "source-postgress" (did you mean "source-postgres"?) (available connectors: dest-postgres, source-postgres)`,
		},
		{
			name: "unknown connector by code",
			err:  statusWith(t, codes.NotFound, "no connector", cfgErr("CONNECTOR_NOT_FOUND", `connector "mysql" is not available`)),
			cmd:  "discover",
			want: `error: connector "mysql" is not available (config/CONNECTOR_NOT_FOUND) (available connectors: dest-postgres, source-postgres)`,
		},
		{
			name: "wrong password",
			err: statusWith(t, codes.FailedPrecondition, "connector failed", &rapidbytev1.ConnectorError{
				Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH, Code: "AUTH_FAILED", Connector: "source-postgres",
				Message: `password authentication failed for user "app"`, Hint: "check source.config.user and password",
			}),
			cmd:  "discover",
			want: `error: source-postgres: password authentication failed for user "app" (auth/AUTH_FAILED); hint: check source.config.user and password`,
		},
		{
			name: "unknown table",
			err: statusWith(t, codes.FailedPrecondition, "connector failed", &rapidbytev1.ConnectorError{
				Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: "TABLE_NOT_FOUND", Connector: "source-postgres",
				Message: `table "public.userz" does not exist`, Hint: `run "rapidbyte discover" to list the tables`,
			}),
			want: `error: source-postgres: table "public.userz" does not exist (config/TABLE_NOT_FOUND); hint: run "rapidbyte discover" to list the tables`,
		},
		{
			name: "several validation problems keep one line each",
			err: statusWith(t, codes.InvalidArgument, "invalid pipeline", cfgErr("INVALID_PIPELINE",
				"pipeline validation failed:\n  - 3:5: source.streams[0].cursor_field: required for incremental\n  - 9:3: destination.primary_key: required for upsert")),
			cmd:  "check",
			want: "error: FILE:3:5: source.streams[0].cursor_field: required for incremental\nFILE:9:3: destination.primary_key: required for upsert",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, &fakeCoordinator{submitErr: tt.err, connectors: manifests}, "")
			file := tt.file
			if file == "" {
				file = writePipeline(t, pipelineYAML)
			}
			cmd := tt.cmd
			if cmd == "" {
				cmd = "run"
			}
			r := invoke(t, nil, "--coordinator", addr, cmd, file)
			if r.code == 0 {
				t.Errorf("exit 0, want non-zero")
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			want := strings.ReplaceAll(tt.want, "FILE", file) + "\n"
			if diff := cmp.Diff(want, r.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnreachableCoordinator(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	file := writePipeline(t, pipelineYAML)
	for _, args := range [][]string{{"run", file}, {"connectors"}, {"-o", "json", "status", "run-1"}} {
		r := invoke(t, map[string]string{EnvCoordinator: addr}, args...)
		if r.code != ExitFailure {
			t.Errorf("%v: exit %d, want %d", args, r.code, ExitFailure)
		}
		want := "error: cannot reach coordinator at " + addr + ": connection refused\n"
		if diff := cmp.Diff(want, r.stderr); diff != "" || r.stdout != "" {
			t.Errorf("%v: stdout %q, stderr (-want +got):\n%s", args, r.stdout, diff)
		}
	}
}

func TestAuthToken(t *testing.T) {
	f := &fakeCoordinator{connectors: manifests}
	addr := serve(t, f, "t0ken")
	t.Run("wrong", func(t *testing.T) {
		r := invoke(t, map[string]string{EnvAuthToken: "nope"}, "--coordinator", addr, "connectors")
		want := "error: coordinator at " + addr + " rejected the request: invalid or missing bearer token (check --auth-token or RAPIDBYTE_AUTH_TOKEN)\n"
		if r.code != ExitFailure || r.stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", r.code, r.stderr, want)
		}
		if strings.Contains(r.stderr, "nope") {
			t.Error("stderr shows the token")
		}
	})
	t.Run("from env", func(t *testing.T) {
		r := invoke(t, map[string]string{EnvAuthToken: "t0ken"}, "--coordinator", addr, "connectors")
		if r.code != 0 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("flag overrides env", func(t *testing.T) {
		r := invoke(t, map[string]string{EnvAuthToken: "nope"}, "--coordinator", addr, "--auth-token", "t0ken", "connectors")
		if r.code != 0 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "error: expected one PIPELINE.yaml argument, got 0 (see 'rapidbyte run --help')"},
		{[]string{"run", "a.yaml", "b.yaml"}, "error: expected one PIPELINE.yaml argument, got 2 (see 'rapidbyte run --help')"},
		{[]string{"run", "--nope", "a.yaml"}, "error: unknown flag: --nope (see 'rapidbyte run --help')"},
		{[]string{"-o", "yaml", "connectors"}, `error: invalid --output "yaml": use text or json (see 'rapidbyte connectors --help')`},
		{[]string{"stauts", "x"}, `error: unknown command "stauts" for "rapidbyte" (did you mean status?) (see 'rapidbyte --help')`},
		{[]string{"run", "--var", "NOEQUALS", "a.yaml"}, `error: invalid --var "NOEQUALS": want KEY=VALUE (see 'rapidbyte run --help')`},
		{[]string{"runs", "--state", "exploded"}, `error: invalid --state "exploded": use pending, running, succeeded, failed or cancelled (see 'rapidbyte runs --help')`},
		{[]string{"run", "--detach", "a.yaml"}, "error: --detach needs a coordinator (--coordinator or RAPIDBYTE_COORDINATOR): an embedded one stops when rapidbyte exits (see 'rapidbyte run --help')"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := invoke(t, nil, tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d", r.code, ExitUsage)
			}
			if diff := cmp.Diff(tt.want+"\n", r.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
				t.Errorf("usage dumped: stdout %q stderr %q", r.stdout, r.stderr)
			}
		})
	}
}
