package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// SelectImages picks, newest first (children before their parents), the images a benchmark with
// prefix created: a tag starting with prefix, the harness's label with that prefix (untagged
// images a rebuild left behind), or an ID in extra.
func SelectImages(list []image.Summary, prefix string, extra map[string]bool) []string {
	var picked []image.Summary
	for _, img := range list {
		mine := extra[img.ID] || img.Labels[label] == prefix
		for _, t := range img.RepoTags {
			mine = mine || strings.HasPrefix(t, prefix)
		}
		if mine {
			picked = append(picked, img)
		}
	}
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].Created > picked[j].Created })
	ids := make([]string, 0, len(picked))
	for _, img := range picked {
		ids = append(ids, img.ID)
	}
	return ids
}

// Cleanup removes every container, volume and image named with prefix, the images carrying the
// harness's label for prefix, and the images extra (by ID). Objects already gone are fine.
func Cleanup(ctx context.Context, api client.APIClient, prefix string, extra map[string]bool) error {
	var errs []error
	containers, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", prefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("cleanup: list containers: %w", err))
	}
	for _, c := range containers {
		for _, n := range c.Names {
			// The name filter matches anywhere in the name; only ours start with the prefix.
			if strings.HasPrefix(strings.TrimPrefix(n, "/"), prefix) {
				if err := api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("cleanup: remove container %s: %w", n, err))
				}
				break
			}
		}
	}
	vols, err := api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", prefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("cleanup: list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if strings.HasPrefix(v.Name, prefix) {
			if err := api.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("cleanup: remove volume %s: %w", v.Name, err))
			}
		}
	}
	// A parent can only go once its children are gone; newest first handles the chains the
	// harness makes, and a second pass catches what the first had to leave.
	var last []error
	for pass := 0; pass < 3; pass++ {
		list, err := api.ImageList(ctx, image.ListOptions{})
		if err != nil {
			last = []error{fmt.Errorf("cleanup: list images: %w", err)}
			break
		}
		last = nil
		for _, id := range SelectImages(list, prefix, extra) {
			_, err := api.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				last = append(last, fmt.Errorf("cleanup: remove image %s: %w", id, err))
			}
		}
		if len(last) == 0 {
			break
		}
	}
	return errors.Join(append(errs, last...)...)
}
