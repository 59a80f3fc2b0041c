// Package madeimages keeps the list of the images a build directory made in the engine that no
// tag may hold (layers images, and bundle images once BUNDLE_TAG moves on), so a later run
// removes the ones no longer needed: those a rebuild replaced and those an interrupted run
// left untagged. An image is recorded before its load completes, so a run killed at any point
// leaves nothing unrecorded. It removes only what it recorded, never a tagged image (a user's
// `docker tag` makes it theirs) nor one a container uses (the engine refuses; it is tried again
// next run). It owns BUILD_DIR/state/made-images.json and nothing else.
package madeimages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/engine"
)

// Journal is the list file; the caller holds BUILD_DIR's lock.
type Journal struct{ Path string }

// Read returns the recorded image IDs; a missing or damaged file is an empty list.
func (j Journal) Read() []string {
	var ids []string
	data, err := os.ReadFile(j.Path)
	if err != nil || json.Unmarshal(data, &ids) != nil {
		return nil
	}
	return ids
}

// Add records ids (empty ones are ignored) before they exist in the engine.
func (j Journal) Add(ids ...string) error {
	list := j.Read()
	n := len(list)
	for _, id := range ids {
		if id != "" && !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	if len(list) == n {
		return nil
	}
	if err := atomicfile.WriteJSON(j.Path, list, 0o644); err != nil {
		return fmt.Errorf("record the images this build directory made: %w", err)
	}
	return nil
}

// Plan is which recorded images to remove: every one but those in use (keep).
func Plan(recorded, keep []string) []string {
	var remove []string
	for _, id := range recorded {
		if !slices.Contains(keep, id) {
			remove = append(remove, id)
		}
	}
	return remove
}

// Sweep removes every recorded image but keep from the engine, with the untagged parents only it
// uses, and forgets those that are gone or tagged now; one a container uses stays recorded.
// It returns how many images it removed; failures are returned joined, for a warning.
func (j Journal) Sweep(ctx context.Context, api client.ImageAPIClient, keep ...string) (int, error) {
	recorded := j.Read()
	remove := Plan(recorded, keep)
	if len(remove) == 0 {
		return 0, nil
	}
	var still []string
	for _, id := range recorded {
		if slices.Contains(keep, id) {
			still = append(still, id)
		}
	}
	removed := 0
	var errs []error
	for _, id := range remove {
		info, found, err := engine.Inspect(ctx, api, id)
		if err != nil {
			still, errs = append(still, id), append(errs, err)
			continue
		}
		if !found || len(info.RepoTags) > 0 {
			continue
		}
		if err := engine.RemoveUntagged(ctx, api, id); err != nil {
			still, errs = append(still, id), append(errs, err)
			continue
		}
		removed++
	}
	var err error
	if len(still) == 0 {
		err = os.Remove(j.Path)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	} else {
		err = atomicfile.WriteJSON(j.Path, still, 0o644)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("record the images this build directory made: %w", err))
	}
	return removed, errors.Join(errs...)
}
