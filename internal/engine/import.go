package engine

import (
	"context"
	"encoding/json"
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
	dec := json.NewDecoder(body)
	for {
		var jm jsonmessage.JSONMessage
		if err := dec.Decode(&jm); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("import %s: read engine output: %w", what, err)
		}
		if jm.Error != nil {
			return "", fmt.Errorf("import %s: %w", what, jm.Error)
		}
		if jm.ErrorMessage != "" {
			return "", fmt.Errorf("import %s: %s", what, jm.ErrorMessage)
		}
		if s := strings.TrimSpace(jm.Status); s != "" {
			last = s
		}
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
