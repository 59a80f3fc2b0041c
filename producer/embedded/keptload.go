package embedded

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// loadKept loads the kept images of items into the engine in one load, each under its name: an
// OCI layout archive holding every blob once, its index naming each image. The containerd store
// loads it as it is: the image's manifest, hence its ID, is the kept one.
func loadKept(ctx context.Context, api *engine.Engine, cache keptCache, items []restoreItem) error {
	var (
		index = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
		blobs []digest.Digest
		seen  = map[digest.Digest]bool{}
	)
	add := func(d digest.Digest) {
		if !seen[d] {
			seen[d] = true
			blobs = append(blobs, d)
		}
	}
	for _, it := range items {
		data, err := os.ReadFile(cache.blobPath(it.Kept.Manifest.Digest))
		if err != nil {
			return fmt.Errorf("restore %s from the build cache: %w", it.Name, err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("restore %s from the build cache: manifest %s: %w", it.Name, it.Kept.Manifest.Digest, err)
		}
		named, err := reference.ParseNormalizedNamed(it.Name)
		if err != nil {
			return fmt.Errorf("restore %s from the build cache: %w", it.Name, err)
		}
		named = reference.TagNameOnly(named)
		desc := it.Kept.Manifest
		desc.Annotations = map[string]string{"io.containerd.image.name": named.String()}
		if tagged, ok := named.(reference.Tagged); ok {
			desc.Annotations[ocispec.AnnotationRefName] = tagged.Tag()
		}
		index.Manifests = append(index.Manifests, desc)
		add(desc.Digest)
		add(m.Config.Digest)
		for _, l := range m.Layers {
			add(l.Digest)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeKeptArchive(pw, cache, index, blobs))
	}()
	err := engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errBuildDone)
	if err != nil {
		return fmt.Errorf("restore %d images from the build cache %s into the engine: %w (remove %s to build them instead)", len(items), cache.Layout, err, cache.Results)
	}
	return nil
}

// writeKeptArchive writes the OCI layout archive of index with blobs, read from the cache.
func writeKeptArchive(w io.Writer, cache keptCache, index ocispec.Index, blobs []digest.Digest) error {
	tw := tarball.NewWriter(w)
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := tw.File(ocispec.ImageLayoutFile, 0o644, layout); err != nil {
		return err
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := tw.File(ocispec.ImageIndexFile, 0o644, idx); err != nil {
		return err
	}
	for _, d := range blobs {
		if err := copyBlob(tw, cache.blobPath(d), path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyBlob(tw *tarball.Writer, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("read blob %s of the build cache: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
