package dindtest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registrybin"
)

// bundleRegistry is what a test bundle carries for its registry, as the Image stage lays it out:
// the images the boot loads, and the context files (binary, index, served.txt).
type bundleRegistry struct {
	boot  layerstore.Set
	files []ctxFile
}

// registryFiles plans the bundle's registry for spec.registry (nothing served without one).
func registryFiles(ctx context.Context, set layerstore.Set, store *layerstore.Store, spec bundleSpec) (bundleRegistry, error) {
	if spec.registry == "" {
		return bundleRegistry{boot: set}, nil
	}
	digests, err := store.FileDigests(set)
	if err != nil {
		return bundleRegistry{}, err
	}
	idx, err := registry.PlanIndex(spec.registry, set, digests)
	if err != nil {
		return bundleRegistry{}, err
	}
	var served []string
	for _, img := range idx.Images {
		served = append(served, img.Name)
	}
	boot, pulled := bundleimage.Boot(set, served, []string{spec.service})
	_, all := bundleimage.Boot(set, served, nil)
	index, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return bundleRegistry{}, err
	}
	// The bundle's base runs on this machine's architecture.
	bin, err := registrybin.Ensure(ctx, registrybin.Request{
		CacheDir: filepath.Join(os.TempDir(), "dindtest-registry-bin"),
		Platform: registrybin.Platform{Arch: runtime.GOARCH},
	})
	if err != nil {
		return bundleRegistry{}, err
	}
	data, err := os.ReadFile(bin.Path)
	if err != nil {
		return bundleRegistry{}, err
	}
	return bundleRegistry{boot: boot, files: []ctxFile{
		{name: "app/bundle/registry.json", data: append(index, '\n'), mode: 0o644},
		{name: "app/bundle/served.txt", data: buildctx.ServedList(all, pulled), mode: 0o644},
		{name: "bin/" + buildctx.RegistryBinaryName, data: data, mode: 0o755},
	}}, nil
}
