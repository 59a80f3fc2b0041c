package bundleimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registrybin"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// ContextRequest is what the bundle's build context is planned from: the Save stage's images,
// the stack's files and where they go.
type ContextRequest struct {
	Set   layerstore.Set
	Store *layerstore.Store
	// Manifest is the merged manifest with every image's identity (buildctx.Bundle.Manifest).
	Manifest manifest.Manifest
	Registry Registry // PlanRegistry
	// WithLayers: the context carries the layer files (the classic builder FROM the DinD base);
	// without them it is what Assemble puts on top of the layers image.
	WithLayers bool
	// DotEnv makes the bundle's .env (its Project is the project's, which compose references
	// may name).
	DotEnv buildctx.DotEnvRequest
	// ComposeFile, ConfigDir (CONFIG_DIR, "" for none) and RuntimeConfigDir (the merged runtime
	// config, "" for none) are the stack; they must lie in the project root (confine.Root of
	// WorkDir and ProjectRoot).
	ComposeFile, ConfigDir, RuntimeConfigDir string
	WorkDir, ProjectRoot                     string
	CertDir, CertTarget                      string
	RunUID, RunGID                           int
	BaseImage                                string // DIND_BASE_IMAGE
	// Logf says what the bundle cannot carry.
	Logf func(format string, args ...any)
}

// Context is the bundle's build context: its entries (buildctx.Plan's, the images directory's
// included) and dind/Dockerfile's build arguments.
type Context struct {
	Entries []buildctx.Entry
	Args    map[string]string
}

// PlanContext lists the bundle's build context and its build arguments. The images directory
// loads at boot what compose runs and what the bundle's registry does not serve (Boot); the rest
// is pulled from the registry.
func PlanContext(r ContextRequest) (Context, error) {
	if r.Logf == nil {
		r.Logf = func(string, ...any) {}
	}
	if _, err := os.Stat(r.ComposeFile); err != nil {
		return Context{}, fmt.Errorf("image: compose file %s: %w (set COMPOSE_FILE)", r.ComposeFile, err)
	}
	certFiles, err := certs.BundleFiles(r.CertDir)
	if err != nil {
		return Context{}, fmt.Errorf("image: %w", err)
	}
	dotEnv, err := buildctx.BundleDotEnv(r.DotEnv)
	if err != nil {
		return Context{}, err
	}
	root, err := confine.Root(r.WorkDir, r.ProjectRoot)
	if err != nil {
		return Context{}, fmt.Errorf("image: %w", err)
	}
	stack, used, err := carryStack(r, root, dotEnv)
	if err != nil {
		return Context{}, err
	}
	boot, pulled := Boot(r.Set, r.Registry.Served, used)
	_, served := Boot(r.Set, r.Registry.Served, nil)
	stream, err := StreamFiles(boot, r.Store)
	if err != nil {
		return Context{}, err
	}
	entries, err := buildctx.Plan(buildctx.Bundle{
		Dockerfile: dind.Dockerfile, Entrypoint: dind.Entrypoint,
		ComposeFile: r.ComposeFile, ConfigDir: r.ConfigDir, RuntimeConfigDir: r.RuntimeConfigDir, Root: root, DotEnv: dotEnv,
		Manifest: r.Manifest,
		CertDir:  r.CertDir, CertFiles: certFiles, RunUID: r.RunUID, RunGID: r.RunGID,
		Images: append(ContextEntries(r.Set, boot, r.Store, r.WithLayers), stream...), Stack: stack,
		Parts: dind.RuntimeFiles(), RegistryBinary: r.Registry.Binary, RegistryIndex: r.Registry.Index,
		Served: buildctx.ServedList(served, pulled),
	})
	if err != nil {
		return Context{}, err
	}
	return Context{Entries: entries, Args: buildArgs(r)}, nil
}

// buildArgs are dind/Dockerfile's ARGs, one each (TestBuildArgsAreTheDockerfiles).
func buildArgs(r ContextRequest) map[string]string {
	return map[string]string{
		"DIND_BASE_IMAGE": r.BaseImage,
		"RUN_UID":         strconv.Itoa(r.RunUID),
		"RUN_GID":         strconv.Itoa(r.RunGID),
		"CERT_TARGET":     r.CertTarget,
		"BUNDLE_PROJECT":  r.Manifest.Build.Project,
	}
}

// carryStack plans the copies of the host files the compose file reads at run time (bind
// mounts, env_file, secrets and configs files), says which host paths the bundle cannot carry,
// and returns the images its services run (loaded at boot even when the registry serves them).
// Its variables are resolved as the bundle's compose resolves them at boot: from the bundle's .env.
func carryStack(r ContextRequest, root string, dotEnv []byte) (buildctx.Carried, []string, error) {
	vars, err := config.ParseEnv(string(dotEnv))
	if err != nil {
		vars = nil // unresolvable references are then listed as warnings
	}
	data, err := userfile.ReadFile("compose file", r.ComposeFile)
	if err != nil {
		return buildctx.Carried{}, nil, fmt.Errorf("image: read compose file %s: %w", r.ComposeFile, err)
	}
	doc, err := compose.References(data, filepath.Dir(r.ComposeFile), vars)
	if err != nil {
		return buildctx.Carried{}, nil, fmt.Errorf("image: compose file %s: %w", r.ComposeFile, err)
	}
	stack, err := buildctx.Carry(doc, buildctx.Stack{Root: root, ConfigDir: r.ConfigDir, DotEnv: r.DotEnv.Project, CertTarget: r.CertTarget})
	if err != nil {
		return buildctx.Carried{}, nil, fmt.Errorf("image: compose file %s: %w", r.ComposeFile, err)
	}
	for _, w := range stack.Warnings {
		r.Logf("warning: %s", w)
	}
	f, err := compose.Parse(data, filepath.Dir(r.ComposeFile), vars)
	if err != nil {
		return buildctx.Carried{}, nil, fmt.Errorf("image: compose file %s: %w", r.ComposeFile, err)
	}
	var images []string
	for _, s := range f.Services {
		if s.Image != "" {
			images = append(images, s.Image)
		}
	}
	return stack, images, nil
}

// Registry is what the bundle's registry needs in the bundle: the images it serves (its index's
// names), the index as app/bundle/registry.json, and the registry binary built for the base's
// platform. All empty when no image is named under CONTAINER_REGISTRY.
type Registry struct {
	Served []string
	Index  []byte
	Binary string
}

// RegistryRequest is what PlanRegistry needs.
type RegistryRequest struct {
	Address string // CONTAINER_REGISTRY; "" for none
	Set     layerstore.Set
	Store   *layerstore.Store
	// BaseRef and BaseID are the bundle's base image (its name for messages): the binary is
	// built for its platform.
	BaseRef, BaseID string
	// WorkDir is where the go command resolves the module; CacheDir where binaries are kept.
	WorkDir, CacheDir string
	Logf              func(format string, args ...any)
}

// PlanRegistry plans the index of the images named under CONTAINER_REGISTRY and, when it serves
// any, builds (or finds in the cache) the registry binary for the base image's platform.
func PlanRegistry(ctx context.Context, api client.APIClient, r RegistryRequest) (Registry, error) {
	if r.Address == "" {
		return Registry{}, nil // no CONTAINER_REGISTRY: function images keep bare names and load at boot
	}
	under := layerstore.Set{Compression: r.Set.Compression}
	for _, img := range r.Set.Images {
		if registry.Serves(r.Address, img.Name) {
			under.Images = append(under.Images, img)
		}
	}
	if len(under.Images) == 0 {
		return Registry{}, nil
	}
	files, err := r.Store.FileDigests(under)
	if err != nil {
		return Registry{}, fmt.Errorf("image: the registry's files: %w (run the save stage again)", err)
	}
	idx, err := registry.PlanIndex(r.Address, under, files)
	if err != nil {
		return Registry{}, fmt.Errorf("image: %w (set CONTAINER_REGISTRY to the address the stack pulls its function images from)", err)
	}
	var plan Registry
	for _, img := range idx.Images {
		plan.Served = append(plan.Served, img.Name)
	}
	if plan.Index, err = json.MarshalIndent(idx, "", "  "); err != nil {
		return Registry{}, fmt.Errorf("image: registry index: %w", err)
	}
	plan.Index = append(plan.Index, '\n')
	info, found, err := engine.Inspect(ctx, api, r.BaseID)
	if err == nil && !found {
		err = errors.New("not found")
	}
	if err != nil {
		return Registry{}, fmt.Errorf("image: inspect the base image %s: %w", r.BaseRef, err)
	}
	bin, err := registrybin.Ensure(ctx, registrybin.Request{
		WorkDir: r.WorkDir, CacheDir: r.CacheDir,
		Platform: registrybin.Platform{Arch: info.Architecture, Variant: info.Variant},
		Logf:     r.Logf,
	})
	if err != nil {
		return Registry{}, fmt.Errorf("image: %w", err)
	}
	plan.Binary = bin.Path
	return plan, nil
}
