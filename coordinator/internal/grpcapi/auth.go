package grpcapi

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// exemptPrefixes name the services reachable without a token, the same on
// the coordinator and the workers: health, so Kubernetes gRPC probes work,
// and server reflection, which only describes the (public) API, so
// `grpcurl list` and `grpcurl describe` work without credentials.
var exemptPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// Auth checks the "authorization: Bearer <token>" metadata (scheme
// case-insensitive, token compared in constant time) of every call except
// health checks and reflection.
type Auth struct {
	token []byte
	log   hclog.Logger
}

// NewAuth returns an Auth for token; an empty token disables the check.
func NewAuth(token string, log hclog.Logger) *Auth {
	return &Auth{token: []byte(token), log: log}
}

func (a *Auth) check(ctx context.Context, method string) error {
	if len(a.token) == 0 {
		return nil
	}
	for _, p := range exemptPrefixes {
		if strings.HasPrefix(method, p) {
			return nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, tok, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "bearer") &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.token) == 1 {
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
