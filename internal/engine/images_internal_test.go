package engine

import (
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestLocalOf(t *testing.T) {
	layers := image.RootFS{Layers: []string{"sha256:l1"}}
	manifest := &ocispec.Descriptor{Digest: "sha256:man"}
	tests := []struct {
		name  string
		info  image.InspectResponse
		store ImageStore
		want  Local
	}{
		{"classic store: the ID is the config digest", image.InspectResponse{ID: "sha256:cfg", RootFS: layers}, ClassicStore,
			Local{ID: "sha256:cfg", Config: "sha256:cfg", DiffIDs: layers.Layers}},
		{"containerd store", image.InspectResponse{ID: "sha256:man", RootFS: layers}, ContainerdStore,
			Local{ID: "sha256:man", DiffIDs: layers.Layers}},
		{"containerd store told by the descriptor (API 1.48+)", image.InspectResponse{ID: "sha256:man", Descriptor: manifest, RootFS: layers}, ClassicStore,
			Local{ID: "sha256:man", DiffIDs: layers.Layers}},
		{"no layers", image.InspectResponse{ID: "sha256:cfg"}, ClassicStore,
			Local{ID: "sha256:cfg", Config: "sha256:cfg", DiffIDs: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(localOf(tt.info, tt.store), tt.want)
		})
	}
}
