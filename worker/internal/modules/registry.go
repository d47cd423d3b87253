package modules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// MaxModuleBytes bounds a fetched module.
const MaxModuleBytes = 512 << 20

// Registry is the part of the coordinator's ConnectorRegistryService the
// resolver uses.
type Registry interface {
	FetchModule(ctx context.Context, in *rbv1.FetchModuleRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[rbv1.FetchModuleResponse], error)
}

// fromRegistry fetches, verifies, caches and compiles a module.
func (r *Resolver) fromRegistry(ctx context.Context, ref Ref) (guest.Module, error) {
	if ref.Digest != "" {
		var fetched []byte
		m, err := r.load(ctx, ref.ID, ref.Digest, func() ([]byte, string, error) {
			b, digest, err := r.fetch(ctx, ref)
			if err != nil {
				return nil, "", err
			}
			if digest != ref.Digest {
				return nil, "", fmt.Errorf("connector %s: registry sent %s: %w", ref, digest, ErrDigestMismatch)
			}
			fetched = b
			return b, digest, nil
		})
		if err == nil && fetched != nil {
			if err := r.writeCache(ref.Digest, fetched); err != nil {
				r.log.Warn("module not cached", "digest", ref.Digest, "error", err)
			}
		}
		return m, err
	}
	// No digest: fetch first (the registry picks the version), then compile
	// by the digest of what arrived.
	v, err, _ := r.group.Do("fetch:"+ref.String(), func() (any, error) {
		b, digest, err := r.fetch(ctx, ref)
		if err != nil {
			return nil, err
		}
		if _, ok := r.cached(digest); !ok {
			if err := r.writeCache(digest, b); err != nil {
				r.log.Warn("module not cached", "digest", digest, "error", err)
			}
		}
		return r.load(ctx, ref.ID, digest, func() ([]byte, string, error) { return b, digest, nil })
	})
	if err != nil {
		return nil, err
	}
	return v.(guest.Module), nil
}

// fetch streams a module from the registry and returns its bytes and
// digest, checked against the manifest's digest when the registry sent one.
func (r *Resolver) fetch(ctx context.Context, ref Ref) ([]byte, string, error) {
	stream, err := r.cfg.Registry.FetchModule(ctx, &rbv1.FetchModuleRequest{
		Connector: &rbv1.ConnectorRef{Id: ref.ID, Version: ref.Version, Digest: ref.Digest},
	})
	if err != nil {
		return nil, "", registryError(ref, err)
	}
	var (
		buf      bytes.Buffer
		manifest *rbv1.ConnectorManifest
	)
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", registryError(ref, err)
		}
		if first {
			manifest = msg.GetManifest()
		}
		if buf.Len()+len(msg.GetChunk()) > MaxModuleBytes {
			return nil, "", fmt.Errorf("fetch connector %s: module exceeds %d bytes", ref, MaxModuleBytes)
		}
		buf.Write(msg.GetChunk())
	}
	if buf.Len() == 0 {
		return nil, "", fmt.Errorf("fetch connector %s: registry sent an empty module: %w", ref, ErrNotFound)
	}
	b := buf.Bytes()
	digest := Digest(b)
	if want := manifest.GetDigest(); want != "" && want != digest {
		return nil, "", fmt.Errorf("fetch connector %s: manifest says %s, bytes hash to %s: %w", ref, want, digest, ErrDigestMismatch)
	}
	r.log.Info("module fetched", "connector", ref.String(), "digest", digest, "bytes", len(b))
	return b, digest, nil
}

// registryError classifies a registry call failure.
func registryError(ref Ref, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("fetch connector %s: %w", ref, ErrNotFound)
	case codes.Canceled:
		return fmt.Errorf("fetch connector %s: %w", ref, context.Canceled)
	default:
		return fmt.Errorf("fetch connector %s: %w: %w", ref, ErrRegistryUnavailable, err)
	}
}
