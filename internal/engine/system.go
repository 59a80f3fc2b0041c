package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// Version returns the engine's version, API version and architecture (like `docker version`).
func Version(ctx context.Context, api client.APIClient) (types.Version, error) {
	v, err := api.ServerVersion(ctx)
	if err != nil {
		return types.Version{}, fmt.Errorf("ask the engine its version: %w", err)
	}
	return v, nil
}

// Info returns what `docker info` shows: storage driver, image store, resources. The image
// store is Engine.Store, asked once per handle.
func Info(ctx context.Context, api client.SystemAPIClient) (system.Info, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return system.Info{}, fmt.Errorf("ask the engine its configuration (docker info): %w", err)
	}
	return info, nil
}

// ImageStore is where an engine keeps its images. It decides what an image ID is (the config
// digest on the classic store, the manifest digest on the containerd store) and which archive
// `docker load` takes for an image whose layers the engine has already: the classic store finds
// them by their chain in a docker-save archive that leaves them out, the containerd store wants
// every layer of such an archive, or an OCI layout naming blobs its content store has.
type ImageStore int

const (
	// ClassicStore: a graph driver (overlay2, vfs), the default up to Engine 28.
	ClassicStore ImageStore = iota
	// ContainerdStore: containerd's snapshotters (docker info: driver-type
	// io.containerd.snapshotter.v1), the default of Engine 29 and Docker Desktop.
	ContainerdStore
)

func (s ImageStore) String() string {
	if s == ContainerdStore {
		return "the containerd image store"
	}
	return "the classic image store"
}

// storeOf reads the image store from docker info's driver status.
func storeOf(status [][2]string) ImageStore {
	for _, kv := range status {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "containerd") {
			return ContainerdStore
		}
	}
	return ClassicStore
}
