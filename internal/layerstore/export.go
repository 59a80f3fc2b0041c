package layerstore

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// Want is an image to export: the name the engine knows it by and the ID it must have.
type Want struct {
	Name, ID string
}

// Export saves the wanted images with one `docker save`, files their layers and configs and
// records each image. Records are written last, only for a complete and checked archive: an
// interrupted export leaves content-addressed files, never a record that claims an image.
//
// progress (nil: quiet) shows the bytes read from the engine, their rate and, when total (the
// archive's expected size; 0 if unknown) is given, the time left.
func (s *Store) Export(ctx context.Context, api client.ImageAPIClient, want []Want, c Compression, progress io.Writer, total int64) ([]Image, error) {
	names := make([]string, 0, len(want))
	for _, w := range want {
		names = append(names, w.Name)
	}
	in := s.NewIngest(c)
	defer in.Abort()
	meter := engine.NewMeter(progress, fmt.Sprintf("save: exporting %d images", len(names)), total)
	entry := func(h *tar.Header, r io.Reader) error { return in.Entry(h, meter.Reader(r)) }
	if err := engine.SaveEach(ctx, api, names, entry); err != nil {
		return nil, err
	}
	meter.Done()
	saved, err := in.Finish()
	if err != nil {
		return nil, fmt.Errorf("save %s: %w", strings.Join(names, ", "), err)
	}
	imgs, err := Match(saved, want)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		if err := s.writeRecord(img); err != nil {
			return nil, err
		}
	}
	return imgs, nil
}

// Match pairs each wanted image with an image of the archive: by tag, else by config digest
// (an engine's image ID is its config digest, except with the containerd image store, where the
// tag decides).
func Match(saved []Saved, want []Want) ([]Image, error) {
	byTag := map[string]Saved{}
	byConfig := map[string]Saved{}
	for _, s := range saved {
		byConfig[s.Config] = s
		for _, t := range s.RepoTags {
			byTag[familiar(t)] = s
		}
	}
	// With the classic image store an image ID is its config digest; a tag that then leads to
	// another config means the image was replaced between the caller's inspect and the save.
	classic := false
	for _, w := range want {
		if _, ok := byConfig[w.ID]; ok {
			classic = true
		}
	}
	var out []Image
	for _, w := range want {
		s, ok := byTag[familiar(w.Name)]
		if !ok {
			s, ok = byConfig[w.ID]
		}
		if !ok {
			return nil, fmt.Errorf("save %s: the archive the engine sent does not hold it", w.Name)
		}
		if classic && s.Config != w.ID {
			return nil, fmt.Errorf("save %s: the engine sent image %s, not %s: the image changed during the save; run it again", w.Name, s.Config, w.ID)
		}
		out = append(out, Image{Name: w.Name, ID: w.ID, Config: s.Config, DiffIDs: s.DiffIDs, Sizes: s.Sizes})
	}
	return out, nil
}

// familiar is ref in the form `docker save` writes RepoTags (engine.FamiliarRef); what is not
// a reference stays as it is, and matches only itself.
func familiar(ref string) string {
	if f, err := engine.FamiliarRef(ref); err == nil {
		return f
	}
	return ref
}
