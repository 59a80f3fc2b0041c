package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
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
	if err := engine.RemoveNamed(ctx, api, prefix); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: %w", err))
	}
	// A parent can only go once its children are gone; newest first handles the chains the
	// harness makes, and a second pass catches what the first had to leave.
	var last []error
	for pass := 0; pass < 3; pass++ {
		list, err := engine.List(ctx, api)
		if err != nil {
			last = []error{fmt.Errorf("cleanup: %w", err)}
			break
		}
		last = nil
		for _, id := range SelectImages(list, prefix, extra) {
			if err := engine.Remove(ctx, api, id); err != nil {
				last = append(last, fmt.Errorf("cleanup: %w", err))
			}
		}
		if len(last) == 0 {
			break
		}
	}
	return errors.Join(append(errs, last...)...)
}
