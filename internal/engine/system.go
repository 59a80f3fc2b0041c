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

// ContainerdStore reports whether the engine keeps images in containerd (docker info:
// driver-type io.containerd.snapshotter.v1), whose `docker load` wants every layer in the
// archive. An engine that cannot say is taken as the classic store.
func ContainerdStore(ctx context.Context, api client.SystemAPIClient) bool {
	info, err := api.Info(ctx)
	return err == nil && containerdStore(info.DriverStatus)
}

func containerdStore(status [][2]string) bool {
	for _, kv := range status {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "containerd") {
			return true
		}
	}
	return false
}
