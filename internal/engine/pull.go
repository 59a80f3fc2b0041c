package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Pull fetches ref into the engine, rendering progress (nil for quiet). It fails when the
// engine refuses the request and also when the stream reports an error part-way, which a
// drained stream would hide.
func Pull(ctx context.Context, api client.ImageAPIClient, ref string, progress io.Writer) error {
	body, err := api.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return pullError(ref, err)
	}
	defer body.Close()
	if err := display(body, progress, nil); err != nil {
		return pullError(ref, err)
	}
	return nil
}

func pullError(ref string, err error) error {
	if cerrdefs.IsNotFound(err) || notFoundMessage(err.Error()) {
		return fmt.Errorf("pull %s: %w (check the image name or registry access)", ref, err)
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}

// notFoundMessage recognises not-found errors reported inside a stream or as plain text, where
// the engine keeps only the message, not the error kind. Each puller words them its own way:
// Engine 20.10's classic puller ("manifest unknown", "unknown blob"), 28's classic puller (the
// registry's JSON: "NAME_UNKNOWN" / "Unknown name", "MANIFEST_UNKNOWN"), and the containerd
// store's ("… from remote: not found").
func notFoundMessage(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range notFoundWordings {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var notFoundWordings = []string{
	"not found",
	"repository does not exist",
	"name unknown", "unknown name", "name_unknown",
	"manifest unknown", "unknown manifest", "manifest_unknown",
	"blob unknown", "unknown blob", "blob_unknown",
}
