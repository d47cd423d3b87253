package grpcapi

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
)

// chunkSize is the module bytes per FetchModule message.
const chunkSize = 1 << 20

// moduleRegistry finds connector modules (registry.Registry).
type moduleRegistry interface {
	List() ([]registry.Module, error)
	Find(ref registry.Ref) (registry.Module, error)
	Open(m registry.Module) (*os.File, error)
}

// RegistryServer implements rapidbyte.v1.ConnectorRegistryService.
type RegistryServer struct {
	rapidbytev1.UnimplementedConnectorRegistryServiceServer

	modules moduleRegistry
	log     hclog.Logger
}

// NewRegistryServer returns the service.
func NewRegistryServer(modules moduleRegistry, log hclog.Logger) *RegistryServer {
	return &RegistryServer{modules: modules, log: log.Named("registry")}
}

// FetchModule streams a module in 1 MiB chunks; the first message carries
// its manifest.
func (s *RegistryServer) FetchModule(r *rapidbytev1.FetchModuleRequest, stream rapidbytev1.ConnectorRegistryService_FetchModuleServer) error {
	const method = "FetchModule"
	ref := registry.Ref{ID: r.GetConnector().GetId(), Version: r.GetConnector().GetVersion(), Digest: r.GetConnector().GetDigest()}
	if ref.ID == "" && ref.Digest == "" {
		return toStatus(s.log, method, badRequest("connector id or digest is required"))
	}
	m, err := s.modules.Find(ref)
	if err != nil {
		return toStatus(s.log, method, err)
	}
	f, err := s.modules.Open(m)
	if err != nil {
		return toStatus(s.log, method, err)
	}
	defer f.Close()
	msg := &rapidbytev1.FetchModuleResponse{Manifest: protoconv.ManifestToProto(m.Manifest)}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			msg.Chunk = buf[:n]
			if err := stream.Send(msg); err != nil {
				return err
			}
			msg = &rapidbytev1.FetchModuleResponse{}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return toStatus(s.log, method, fmt.Errorf("read module %s: %w", m.Path, rerr))
		}
	}
	if msg.Manifest != nil { // empty file: still send the manifest
		return stream.Send(msg)
	}
	return nil
}
