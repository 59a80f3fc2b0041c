package bundleimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// StreamFiles lets an engine that cannot read zstd (before Engine 23) load the docker-save
// directory of a zstd set without first writing the decompressed layers to disk: the entrypoint
// writes one `docker load` archive from the pieces stream.txt lists, in order, each line
// "<piece> <layer file or ->": the piece's bytes as they are, then the layer file decompressed.
// The pieces are the archive's bytes between the layers: manifest.json and the configs, each
// layer's tar header (it needs the layer's uncompressed size, which the layer store records),
// the padding after it and the end-of-archive marker. It returns nil when the set is not zstd or
// its records predate the sizes (the entrypoint then decompresses into the volume first).
func StreamFiles(set layerstore.Set, store *layerstore.Store) ([]buildctx.Entry, error) {
	if set.Compression != layerstore.Zstd {
		return nil, nil
	}
	sizes := map[string]int64{}
	for _, img := range set.Images {
		if len(img.Sizes) != len(img.DiffIDs) {
			return nil, nil
		}
		for i, d := range img.DiffIDs {
			sizes[d] = img.Sizes[i]
		}
	}
	plain := layerstore.Set{Compression: layerstore.None, Images: set.Images}
	var buf bytes.Buffer
	tw := tarball.NewWriter(&buf)
	if err := tw.File("manifest.json", 0o644, DockerManifest(plain)); err != nil {
		return nil, fmt.Errorf("bundle context: %w", err)
	}
	seen := map[string]bool{}
	for _, img := range set.Images {
		name := layerstore.ConfigFile(img.Config)
		if seen[name] {
			continue
		}
		seen[name] = true
		data, err := os.ReadFile(store.ConfigPath(img.Config))
		if err != nil {
			return nil, fmt.Errorf("bundle context: %w (run the save stage again)", err)
		}
		if err := tw.File(name, 0o644, data); err != nil {
			return nil, fmt.Errorf("bundle context: %w", err)
		}
	}
	var entries []buildctx.Entry
	var list strings.Builder
	piece := func(layer string) {
		name := fmt.Sprintf("stream-%03d.bin", len(entries))
		entries = append(entries, buildctx.Entry{Name: path.Join(Dir, name), Data: append([]byte{}, buf.Bytes()...), Mode: 0o644})
		fmt.Fprintf(&list, "%s %s\n", name, layer)
		buf.Reset()
	}
	for _, d := range set.Layers() {
		if err := tw.Flush(); err != nil {
			return nil, fmt.Errorf("bundle context: %w", err)
		}
		// A new writer for each header: the layer's content does not pass through it.
		tw = tarball.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: layerstore.LayerFile(d, layerstore.None), Mode: 0o644, Size: sizes[d], Typeflag: tar.TypeReg}); err != nil {
			return nil, fmt.Errorf("bundle context: %w", err)
		}
		piece(layerstore.LayerFile(d, layerstore.Zstd))
		buf.Write(make([]byte, (512-sizes[d]%512)%512))
		tw = tarball.NewWriter(&buf)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("bundle context: %w", err)
	}
	piece("-")
	return append(entries, buildctx.Entry{Name: path.Join(Dir, "stream.txt"), Data: []byte(list.String()), Mode: 0o644}), nil
}
