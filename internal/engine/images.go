package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImageIDs looks up the local image ID of each name. Names the engine does not have are listed
// in missing (in the order given) rather than failing, so callers can decide to pull or build
// them; any other failure stops the lookup.
func ImageIDs(ctx context.Context, api client.ImageAPIClient, names []string) (ids map[string]string, missing []string, err error) {
	locals, missing, err := Locals(ctx, api, names, false)
	if err != nil {
		return nil, nil, err
	}
	ids = make(map[string]string, len(locals))
	for n, l := range locals {
		ids[n] = l.ID
	}
	return ids, missing, nil
}

// Local is what an engine tells about a local image without exporting it.
type Local struct {
	ID      string   // the engine's image ID: the config digest, or the manifest digest on the containerd image store
	Config  string   // the config digest; "" on the containerd image store, which does not report it
	DiffIDs []string // the layers' diffIDs, base first (RootFS.Layers): the same on every store
}

// Locals looks up each name like ImageIDs and returns what the engine tells about it. containerd
// says whether the engine keeps images in containerd (ContainerdStore): there an image ID is the
// manifest digest, elsewhere it is the config digest.
func Locals(ctx context.Context, api client.ImageAPIClient, names []string, containerd bool) (images map[string]Local, missing []string, err error) {
	images = make(map[string]Local, len(names))
	for _, name := range names {
		info, err := api.ImageInspect(ctx, name)
		if cerrdefs.IsNotFound(err) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("inspect image %s: %w", name, err)
		}
		images[name] = LocalOf(info, containerd)
	}
	return images, missing, nil
}

// LocalOf is what an inspect tells about an image (see Locals).
func LocalOf(info image.InspectResponse, containerd bool) Local {
	l := Local{ID: info.ID, DiffIDs: info.RootFS.Layers}
	// An engine of API 1.48 or later describes the image's manifest on the containerd store
	// even when asked without knowing the store.
	if !containerd && (info.Descriptor == nil || info.Descriptor.Digest.String() != info.ID) {
		l.Config = info.ID
	}
	if l.DiffIDs == nil {
		l.DiffIDs = []string{}
	}
	return l
}

// ContainerdStore reports whether the engine keeps its images in containerd (docker info:
// driver-type io.containerd.snapshotter.v1, the default of Engine 29 and Docker Desktop): its
// image IDs are manifest digests, and `docker load` takes an OCI layout whose blobs it already
// has.
func ContainerdStore(ctx context.Context, api client.SystemAPIClient) (bool, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("docker info: %w", err)
	}
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "containerd") {
			return true, nil
		}
	}
	return false, nil
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
