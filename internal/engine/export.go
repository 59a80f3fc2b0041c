package engine

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// ImageLayers returns an image's ID and its layers' diffIDs, bottom first. A missing image is an
// error that cerrdefs.IsNotFound recognises, naming ref.
func ImageLayers(ctx context.Context, api client.ImageAPIClient, ref string) (id string, diffIDs []string, err error) {
	info, err := api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", nil, fmt.Errorf("image %s is not in the engine: %w", ref, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return info.ID, info.RootFS.Layers, nil
}

// ImageSize is an image's size in the engine (all its layers, uncompressed), as `docker images`
// shows it.
func ImageSize(ctx context.Context, api client.ImageAPIClient, ref string) (int64, error) {
	info, err := api.ImageInspect(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return info.Size, nil
}
