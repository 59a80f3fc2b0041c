package engine

import (
	"archive/tar"
	"context"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// PathHeaders reads how image has each of paths (type, mode, owner) through a created, never
// started container: the tar header the engine's archive of the path starts with. Only that
// header is read, then the archive is closed, so a large directory costs no more than a small
// one. A path the image lacks is absent from the result.
func PathHeaders(ctx context.Context, api client.ContainerAPIClient, image string, paths []string) (_ map[string]*tar.Header, err error) {
	out := map[string]*tar.Header{}
	if len(paths) == 0 {
		return out, nil
	}
	// No command runs; one is given for an image without CMD or ENTRYPOINT.
	created, err := api.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"/"}}, nil, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("create a container of %s to read its directories: %w", image, err)
	}
	defer func() {
		// RemoveVolumes: an image with a VOLUME (docker:dind's /var/lib/docker) gave the
		// container an anonymous volume, which would otherwise stay behind at every build.
		rm := container.RemoveOptions{Force: true, RemoveVolumes: true}
		if rmErr := api.ContainerRemove(context.WithoutCancel(ctx), created.ID, rm); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the container %s of %s (remove it with docker rm): %w", created.ID, image, rmErr)
		}
	}()
	for _, p := range paths {
		hdr, err := firstHeader(ctx, api, created.ID, p)
		switch {
		case cerrdefs.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("read %s of %s: %w", p, image, err)
		}
		out[p] = hdr
	}
	return out, nil
}

func firstHeader(ctx context.Context, api client.ContainerAPIClient, id, p string) (*tar.Header, error) {
	rc, _, err := api.CopyFromContainer(ctx, id, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	hdr, err := tar.NewReader(rc).Next()
	if err == io.EOF {
		return nil, fmt.Errorf("empty archive")
	}
	return hdr, err
}
