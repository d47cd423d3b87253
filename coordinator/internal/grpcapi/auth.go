package grpcapi

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// healthPrefix is the method prefix of the gRPC health service, which
// probes call without credentials.
const healthPrefix = "/grpc.health.v1.Health/"

// Auth checks the "authorization: Bearer <token>" metadata of every call
// except health checks.
type Auth struct {
	token []byte
	log   hclog.Logger
}

// NewAuth returns an Auth for token; an empty token disables the check.
func NewAuth(token string, log hclog.Logger) *Auth {
	return &Auth{token: []byte(token), log: log}
}

func (a *Auth) check(ctx context.Context, method string) error {
	if len(a.token) == 0 || strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		tok, ok := strings.CutPrefix(v, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.token) == 1 {
			return nil
		}
	}
	return toStatus(a.log, method, errUnauthenticated)
}

// Unary is the unary server interceptor.
func (a *Auth) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is the stream server interceptor.
func (a *Auth) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
