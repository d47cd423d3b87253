package faults

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// rawCodec sends and receives message bytes as they are, so any method can
// be called without its generated types (an empty body is a valid empty
// request of every protobuf message).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// rpcMethod is a gRPC method and whether it is streaming.
type rpcMethod struct {
	name   string
	stream bool
}

var (
	coordinatorMethods = []rpcMethod{
		{"/rapidbyte.v1.CoordinatorService/SubmitRun", false}, {"/rapidbyte.v1.CoordinatorService/GetRun", false},
		{"/rapidbyte.v1.CoordinatorService/WatchRun", true}, {"/rapidbyte.v1.CoordinatorService/ListRuns", false},
		{"/rapidbyte.v1.CoordinatorService/CancelRun", false}, {"/rapidbyte.v1.CoordinatorService/Discover", false},
		{"/rapidbyte.v1.CoordinatorService/Check", false}, {"/rapidbyte.v1.CoordinatorService/ListConnectors", false},
		{"/rapidbyte.v1.ConnectorRegistryService/FetchModule", true},
	}
	// Health and server reflection are exempt from the token on both (see
	// README, Authentication); every other method needs it.
	workerMethods = []rpcMethod{
		{"/rapidbyte.v1.WorkerService/Spec", false}, {"/rapidbyte.v1.WorkerService/Check", false},
		{"/rapidbyte.v1.WorkerService/Discover", false},
		{"/arrow.flight.protocol.FlightService/DoGet", true}, {"/arrow.flight.protocol.FlightService/DoPut", true},
		{"/arrow.flight.protocol.FlightService/ListFlights", true},
	}
)

// call invokes m on addr with an empty request and the given bearer token
// ("" = no authorization header) and returns the status code.
func call(t *testing.T, addr string, m rpcMethod, token string) (codes.Code, string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	req, resp := []byte{}, []byte{}
	if !m.stream {
		err = conn.Invoke(ctx, m.name, &req, &resp, grpc.ForceCodec(rawCodec{}))
	} else {
		var s grpc.ClientStream
		s, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, m.name, grpc.ForceCodec(rawCodec{}))
		if err == nil {
			// SendMsg reports io.EOF when the server already ended the
			// stream; RecvMsg then returns the real status.
			_ = s.SendMsg(&req)
			_ = s.CloseSend()
			err = s.RecvMsg(&resp)
		}
	}
	st := status.Convert(err)
	return st.Code(), st.Message()
}

// TestAuth starts a coordinator and a worker with --auth-token and calls
// every method of both without a token, with a wrong token and with the
// right one; health and server reflection must answer without a token, on
// both alike.
func TestAuth(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOpts{workers: 1})
	if c.Token == "" {
		t.Fatal("cluster started without a token")
	}
	servers := []struct {
		name    string
		addr    string
		methods []rpcMethod
	}{
		{"coordinator", c.Addr, coordinatorMethods},
		{"worker", c.Workers[0].Addr, workerMethods},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			for _, m := range srv.methods {
				for _, tok := range []struct{ what, token string }{{"no token", ""}, {"wrong token", c.Token + "x"}, {"empty bearer", " "}} {
					if code, msg := call(t, srv.addr, m, tok.token); code != codes.Unauthenticated {
						t.Errorf("%s %s with %s: %s %q, want Unauthenticated", srv.name, m.name, tok.what, code, msg)
					}
				}
				if code, msg := call(t, srv.addr, m, c.Token); code == codes.Unauthenticated {
					t.Errorf("%s %s with the right token: %s %q", srv.name, m.name, code, msg)
				}
			}
			// Health answers without credentials (probes).
			conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health without a token: %v %v, want SERVING", resp.GetStatus(), err)
			}
			// So does reflection (grpcurl list), listing the service.
			refl, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err == nil {
				err = refl.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}})
			}
			var rresp *reflectpb.ServerReflectionResponse
			if err == nil {
				rresp, err = refl.Recv()
			}
			if err != nil {
				t.Fatalf("reflection without a token: %v", err)
			}
			var services []string
			for _, svc := range rresp.GetListServicesResponse().GetService() {
				services = append(services, svc.GetName())
			}
			if want := strings.Split(strings.TrimPrefix(srv.methods[0].name, "/"), "/")[0]; !slices.Contains(services, want) {
				t.Errorf("reflection without a token lists %v, missing %s", services, want)
			}
		})
	}

	t.Run("exact_ok", func(t *testing.T) {
		for _, m := range []rpcMethod{{"/rapidbyte.v1.CoordinatorService/ListRuns", false}, {"/rapidbyte.v1.CoordinatorService/ListConnectors", false}} {
			if code, msg := call(t, c.Addr, m, c.Token); code != codes.OK {
				t.Errorf("%s with the right token: %s %q, want OK", m.name, code, msg)
			}
		}
	})

	t.Run("grpcurl", func(t *testing.T) {
		protoDir := e2etest.RepoRoot(t) + "/proto"
		grpcurl := func(extra ...string) e2etest.Result {
			args := append([]string{"-plaintext", "-import-path", protoDir, "-proto", "rapidbyte/v1/coordinator.proto"}, extra...)
			args = append(args, "-d", "{}", c.Addr, "rapidbyte.v1.CoordinatorService/ListRuns")
			return e2etest.RunBinary(t, e2etest.BinPath(t, "grpcurl"), nil, args...)
		}
		for _, tc := range []struct {
			what string
			args []string
		}{{"no token", nil}, {"wrong token", []string{"-H", "authorization: Bearer wrong"}}} {
			res := grpcurl(tc.args...)
			if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "Unauthenticated") {
				t.Errorf("grpcurl ListRuns with %s: want Unauthenticated\n%s", tc.what, res)
			}
		}
		res := grpcurl("-H", "authorization: Bearer "+c.Token)
		res.RequireExit(t, 0)
	})

	t.Run("cli", func(t *testing.T) {
		for _, tok := range []string{"", "wrong"} {
			res := e2etest.RunCLI(t, e2etest.Env{"RAPIDBYTE_COORDINATOR": c.Addr, "RAPIDBYTE_AUTH_TOKEN": tok}, "runs")
			if res.ExitCode == 0 {
				t.Errorf("runs with token %q: exit 0\n%s", tok, res)
			}
			requireOneErrorLine(t, res)
			if low := strings.ToLower(res.Stderr); !strings.Contains(low, "unauthenticated") && !strings.Contains(low, "token") {
				t.Errorf("runs with token %q: error does not say the token is missing or wrong: %s", tok, res.Stderr)
			}
		}
		cli(t, c, "runs").RequireExit(t, 0)
	})
}
