package contract

import (
	"context"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// finder looks modules up in the coordinator's registry.
type finder interface {
	Find(ref registry.Ref) (registry.Module, error)
}

// specer asks some worker for a module's manifest (workerpool.Pool).
type specer interface {
	Spec(ctx context.Context, req *rapidbytev1.SpecRequest) (*rapidbytev1.SpecResponse, error)
}

// RegistryManifests finds manifests in the coordinator's registry, then
// on a worker for modules the registry lacks (as `check` finds modules).
type RegistryManifests struct {
	Registry finder
	Workers  specer
}

// Manifest implements Manifests.
func (r RegistryManifests) Manifest(ctx context.Context, ref pipeline.ConnectorRef) (abi.Manifest, error) {
	if r.Registry != nil {
		if m, err := r.Registry.Find(registry.Ref{ID: ref.ID, Version: ref.Version}); err == nil {
			return m.Manifest, nil
		}
	}
	resp, err := r.Workers.Spec(ctx, &rapidbytev1.SpecRequest{Connector: &rapidbytev1.ConnectorRef{Id: ref.ID, Version: ref.Version}})
	if err != nil {
		return abi.Manifest{}, err
	}
	return protoconv.ManifestFromProto(resp.GetManifest()), nil
}
