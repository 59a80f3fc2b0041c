package engine

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
)

// Inspect returns what the engine knows of the image ref. An image the engine does not have is
// not an error: found is false and err nil, so callers can decide to pull or build it; any other
// failure is returned.
func Inspect(ctx context.Context, api client.ImageAPIClient, ref string) (info image.InspectResponse, found bool, err error) {
	info, err = api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return image.InspectResponse{}, false, nil
	}
	if err != nil {
		return image.InspectResponse{}, false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return info, true, nil
}

// manifestsAPI is the first API version whose image inspect lists an image's manifests, each
// with whether the engine's content store holds all of its blobs (Engine 28).
const manifestsAPI = "1.48"

// TellsManifests reports whether api's engine answers InspectManifests: API 1.48 (Engine 28) or
// later. Ask after a first call to the engine, which settles the negotiated version.
func TellsManifests(api client.APIClient) bool {
	return versions.GreaterThanOrEqualTo(api.ClientVersion(), manifestsAPI)
}

// InspectManifests is Inspect with the image's manifests (InspectResponse.Manifests): on the
// containerd image store each manifest the engine holds for ref, and whether its content store
// has every blob of it — config and layers (Available; containerd's images.Check). The classic
// store lists none. Call it only when TellsManifests: older engines cannot be asked.
func InspectManifests(ctx context.Context, api client.ImageAPIClient, ref string) (info image.InspectResponse, found bool, err error) {
	info, err = api.ImageInspect(ctx, ref, client.ImageInspectWithManifests(true))
	if cerrdefs.IsNotFound(err) {
		return image.InspectResponse{}, false, nil
	}
	if err != nil {
		return image.InspectResponse{}, false, fmt.Errorf("inspect image %s and its manifests: %w", ref, err)
	}
	return info, true, nil
}

// ImageIDs looks up the local image ID of each name. Names the engine does not have are listed
// in missing (in the order given) rather than failing, so callers can decide to pull or build
// them; any other failure stops the lookup.
func ImageIDs(ctx context.Context, api client.ImageAPIClient, names []string) (ids map[string]string, missing []string, err error) {
	// The ID is the same whatever the store: the classic store's reading asks nothing more.
	locals, missing, err := locals(ctx, api, names, ClassicStore)
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

// Locals looks up each name like ImageIDs and returns what the engine tells about it (LocalOf).
func (e *Engine) Locals(ctx context.Context, names []string) (images map[string]Local, missing []string, err error) {
	store, err := e.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	return locals(ctx, e.APIClient, names, store)
}

// LocalOf is what an inspect of this engine tells about an image: on the containerd store an
// image ID is the manifest digest and the config digest is not told; elsewhere the ID is the
// config digest.
func (e *Engine) LocalOf(ctx context.Context, info image.InspectResponse) (Local, error) {
	store, err := e.Store(ctx)
	if err != nil {
		return Local{}, err
	}
	return localOf(info, store), nil
}

func locals(ctx context.Context, api client.ImageAPIClient, names []string, store ImageStore) (images map[string]Local, missing []string, err error) {
	images = make(map[string]Local, len(names))
	for _, name := range names {
		info, found, err := Inspect(ctx, api, name)
		if err != nil {
			return nil, nil, err
		}
		if !found {
			missing = append(missing, name)
			continue
		}
		images[name] = localOf(info, store)
	}
	return images, missing, nil
}

func localOf(info image.InspectResponse, store ImageStore) Local {
	l := Local{ID: info.ID, DiffIDs: info.RootFS.Layers}
	// An engine of API 1.48 or later describes the image's manifest on the containerd store
	// even when asked without knowing the store.
	if store != ContainerdStore && (info.Descriptor == nil || info.Descriptor.Digest.String() != info.ID) {
		l.Config = info.ID
	}
	if l.DiffIDs == nil {
		l.DiffIDs = []string{}
	}
	return l
}

// Tag gives the image source the additional name target (like `docker tag`).
func Tag(ctx context.Context, api client.ImageAPIClient, source, target string) error {
	if err := api.ImageTag(ctx, source, target); err != nil {
		return fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	return nil
}

// List returns the engine's top-level images (like `docker images`).
func List(ctx context.Context, api client.ImageAPIClient) ([]image.Summary, error) {
	list, err := api.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return list, nil
}

// RemoveUntagged removes the image id, and the untagged parents only it uses, once no tag names
// it; a tagged or missing image is left alone (nil). Without force the engine refuses while a
// container uses the image, and that error is returned for the caller to report or ignore.
func RemoveUntagged(ctx context.Context, api client.ImageAPIClient, id string) error {
	info, found, err := Inspect(ctx, api, id)
	if err != nil || !found || len(info.RepoTags) > 0 {
		return err
	}
	if _, err := api.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", id, err)
	}
	return nil
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

// TaggedIDs is the ID of every tagged image of the engine, by its names as FamiliarRef writes
// them, from one listing: what a run checks all its images against without one inspect each.
func TaggedIDs(ctx context.Context, api client.ImageAPIClient) (map[string]string, error) {
	list, err := List(ctx, api)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, img := range list {
		for _, tag := range img.RepoTags {
			if ref, err := FamiliarRef(tag); err == nil {
				ids[ref] = img.ID
			}
		}
	}
	return ids, nil
}
