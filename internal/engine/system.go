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

// Info returns what `docker info` shows: storage driver, image store, resources.
func Info(ctx context.Context, api client.SystemAPIClient) (system.Info, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return system.Info{}, fmt.Errorf("ask the engine its configuration: %w", err)
	}
	return info, nil
}

// ContainerdStore reports whether the engine keeps its images in containerd (docker info:
// driver-type io.containerd.snapshotter.v1, the default of Engine 29 and Docker Desktop), whose
// `docker load` wants every layer in the archive.
func ContainerdStore(ctx context.Context, api client.SystemAPIClient) (bool, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("docker info: %w", err)
	}
	return containerdStore(info.DriverStatus), nil
}

func containerdStore(status [][2]string) bool {
	for _, kv := range status {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "containerd") {
			return true
		}
	}
	return false
}
