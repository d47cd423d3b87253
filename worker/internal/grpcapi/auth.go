package grpcapi

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// exemptPrefixes name the services reachable without a token: health, so
// Kubernetes gRPC probes work, and server reflection, which only describes
// the (public) API, so `grpcurl list` and health checks through grpcurl work.
var exemptPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// Auth checks "authorization: Bearer <token>" on every call except health
// checks and reflection, comparing in constant time.
type Auth struct{ token []byte }

// NewAuth returns an Auth for token; an empty token disables the check.
func NewAuth(token string) *Auth { return &Auth{token: []byte(token)} }

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
	return errUnauthenticated("missing or invalid bearer token")
}

// Unary returns the unary server interceptor.
func (a *Auth) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor.
func (a *Auth) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
