package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Import creates an image from a root filesystem tar stream (like `docker import - ref`),
// applying Dockerfile-style changes ("CMD [\"/bin/sh\"]", "ENV A=b"), and returns its ID. ref
// may be empty for an untagged image.
func Import(ctx context.Context, api client.ImageAPIClient, rootfs io.Reader, ref string, changes []string) (imageID string, err error) {
	what := ref
	if what == "" {
		what = "root filesystem"
	}
	body, err := api.ImageImport(ctx, image.ImportSource{Source: rootfs, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("import %s: %w", what, err)
	}
	defer body.Close()
	// The stream ends with the new image's ID as a status line; errors arrive in it too.
	var last string
	err = render(body, nil, func(jm jsonmessage.JSONMessage) {
		if s := strings.TrimSpace(jm.Status); s != "" {
			last = s
		}
	})
	if err != nil {
		return "", fmt.Errorf("import %s: %w", what, err)
	}
	lookup := ref
	if lookup == "" {
		lookup = last
	}
	if lookup == "" {
		return "", fmt.Errorf("import %s: the engine reported no image", what)
	}
	info, err := api.ImageInspect(ctx, lookup)
	if err != nil {
		return "", fmt.Errorf("import %s: find the imported image: %w", what, err)
	}
	return info.ID, nil
}
