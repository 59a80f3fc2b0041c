package engine

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImageIDs looks up the local image ID of each name. Names the engine does not have are listed
// in missing (in the order given) rather than failing, so callers can decide to pull or build
// them; any other failure stops the lookup.
func ImageIDs(ctx context.Context, api client.ImageAPIClient, names []string) (ids map[string]string, missing []string, err error) {
	ids = make(map[string]string, len(names))
	for _, name := range names {
		info, err := api.ImageInspect(ctx, name)
		if cerrdefs.IsNotFound(err) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("inspect image %s: %w", name, err)
		}
		ids[name] = info.ID
	}
	return ids, missing, nil
}

// Remove deletes images by reference, ignoring ones that are already gone, so it suits cleanups
// that may run after a failed build. It removes the tag (and untagged parents left by the
// classic builder); an image ID still tagged elsewhere stays.
func Remove(ctx context.Context, api client.ImageAPIClient, refs ...string) error {
	var errs []error
	for _, ref := range refs {
		_, err := api.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}
