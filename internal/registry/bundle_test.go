package registry_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// fakeImage is an image for a test bundle: its name and its layers' files (one file per layer).
type fakeImage struct {
	name   string
	layers []map[string]string
}

// testBundle is a bundle's images directory made from images, as the Image stage makes it: the
// layer store's files (compressed as c) under their store names, and the registry index for
// address.
type testBundle struct {
	dir   string
	store *layerstore.Store
	set   layerstore.Set
	index registry.Index
}

func makeBundle(t testing.TB, address string, c layerstore.Compression, images ...fakeImage) testBundle {
	t.Helper()
	s, err := layerstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	set := layerstore.Set{Compression: c}
	for _, img := range images {
		var diffIDs []string
		var sizes []int64
		for _, files := range img.layers {
			tar := layerTar(t, files)
			d := digest.FromBytes(tar).String()
			var buf bytes.Buffer
			zw, err := c.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			zw.Write(tar)
			zw.Close()
			if err := os.WriteFile(s.LayerPath(d, c), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			diffIDs = append(diffIDs, d)
			sizes = append(sizes, int64(len(tar)))
		}
		config, err := json.Marshal(map[string]any{
			"architecture": runtime.GOARCH, "os": "linux",
			"config": map[string]any{"Cmd": []string{"/" + img.name}},
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		})
		if err != nil {
			t.Fatal(err)
		}
		cd := digest.FromBytes(config).String()
		if err := os.WriteFile(s.ConfigPath(cd), config, 0o644); err != nil {
			t.Fatal(err)
		}
		set.Images = append(set.Images, layerstore.Image{Name: img.name, ID: cd, Config: cd, DiffIDs: diffIDs, Sizes: sizes})
	}
	files, err := s.FileDigests(set)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := registry.PlanIndex(address, set, files)
	if err != nil {
		t.Fatal(err)
	}
	return testBundle{dir: imagesDir(t, s), store: s, set: set, index: idx}
}

// imagesDir is a bundle's images directory holding the store's layer and config files under the
// same names, side by side, as the Image stage lays them out.
func imagesDir(t testing.TB, s *layerstore.Store) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"sha256", "configs"} {
		entries, err := os.ReadDir(filepath.Join(s.Dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := os.Link(filepath.Join(s.Dir, sub, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// layerTar is a layer tar holding files (path → content).
func layerTar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tarball.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.File(name, 0o644, []byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
