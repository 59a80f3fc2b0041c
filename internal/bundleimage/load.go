package bundleimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// LayersRequest is what LayersImage needs: the Save stage's set and its store, the bundle's base
// image, and where the chain of the last layers image is recorded.
type LayersRequest struct {
	Set       layerstore.Set
	Store     *layerstore.Store
	BaseRef   string // the base image's name, for messages and history
	BaseID    string // its image ID
	ChainPath string // the recorded Chain of the last layers image (a JSON file)
	Force     bool   // ignore the recorded chain: send every layer again
	Logf      func(format string, args ...any)
	// BaseLayersPath keeps the list of the base's blobs, which the layers image names on the
	// containerd image store (an OCI layout there, see WriteLayersOCI).
	BaseLayersPath string
	// BaseLayersCache is a directory shared by build directories (config's CacheDir; empty:
	// none) where the base's blob list is kept too, named by the base's manifest digest and
	// platform: content-addressed, so a new build directory does not read the base again.
	BaseLayersCache string
	// Progress shows the bytes sent to the engine, with rate and time left (nil: quiet).
	Progress io.Writer
	// Made records the ID of a new layers image before the engine can complete its load, so an
	// interrupted run leaves no image nobody knows about (madeimages); nil: not recorded.
	Made func(id string) error
}

// Layers is the engine's layers image: its ID and what it is made of.
type Layers struct {
	ID         string
	Store      engine.ImageStore // the engine's image store: the format of an image on top (WriteTop)
	Base       Base
	BaseLayers []Descriptor // the base's blobs (containerd image store only)
	Groups     []Group
}

// LayersImage makes sure the engine has the layers image for r.Set and returns it: the previous
// one when it fits, else a new one loaded with only the layers the engine lacks (a docker-save
// archive on the classic store, an OCI layout on the containerd store: WriteLayersDocker,
// WriteLayersOCI). When it fails the caller sends the layer files in the build context instead.
func LayersImage(ctx context.Context, api *engine.Engine, r LayersRequest) (Layers, error) {
	set, store, baseID := r.Set, r.Store, r.BaseID
	logf := r.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	imageStore, err := api.Store(ctx)
	if err != nil {
		return Layers{}, err
	}
	containerd := imageStore == engine.ContainerdStore
	baseInfo, found, err := engine.Inspect(ctx, api, baseID)
	if err == nil && !found {
		err = errors.New("not found")
	}
	if err != nil {
		return Layers{}, fmt.Errorf("inspect the base image %s: %w", r.BaseRef, err)
	}
	base := Base{
		Ref: r.BaseRef, ID: baseID, DiffIDs: baseInfo.RootFS.Layers, Created: baseInfo.Created,
		OS: baseInfo.Os, Architecture: baseInfo.Architecture, Variant: baseInfo.Variant,
	}
	if baseInfo.Config != nil {
		if base.Config, err = json.Marshal(baseInfo.Config); err != nil {
			return Layers{}, fmt.Errorf("read the base image's config: %w", err)
		}
	}
	li := Layers{Store: imageStore, Base: base}
	if containerd {
		if li.BaseLayers, err = baseLayers(ctx, api, base, r.BaseLayersPath, r.BaseLayersCache, logf); err != nil {
			return Layers{}, err
		}
	}
	chainPath := r.ChainPath
	prev, err := ReadChain(chainPath)
	if err != nil {
		return Layers{}, err
	}
	var reusable []Group
	if !r.Force && prev.Base == baseID && prev.Compression == set.Compression && prev.Image != "" {
		if info, found, err := engine.Inspect(ctx, api, prev.Image); err == nil && found && slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, prev.Groups)) {
			reusable = prev.Groups
		}
	}
	var live []Layer
	for _, d := range set.Layers() {
		size, err := store.LayerSize(d, set.Compression)
		if err != nil {
			return Layers{}, err
		}
		live = append(live, Layer{DiffID: d, Size: size})
	}
	plan := PlanChain(reusable, live, DefaultLimits(len(base.DiffIDs)))
	if plan.Reuse == len(plan.Groups) && len(plan.Groups) == len(prev.Groups) && reusable != nil {
		logf("layers image %s is up to date (%d layers)", prev.Image, len(plan.Groups))
		li.ID, li.Groups = prev.Image, prev.Groups
		return li, nil
	}
	logf("loading the layers image: %d of %d layers to send, %s", len(plan.Groups)-plan.Reuse, len(plan.Groups), plan.Reason)
	if err := fresh.RemoveState(chainPath); err != nil {
		return Layers{}, err
	}
	write := func(w io.Writer) (string, []Group, error) {
		return WriteLayersDocker(w, store, base, plan, set.Compression)
	}
	if containerd {
		write = func(w io.Writer) (string, []Group, error) {
			return WriteLayersOCI(w, store, base, li.BaseLayers, plan, set.Compression)
		}
	}
	var sending int64
	for _, g := range plan.Groups[plan.Reuse:] {
		for _, l := range g.Layers {
			sending += l.Size
		}
	}
	meter := engine.NewMeter(r.Progress, "image: sending layers", sending)
	pr, pw := io.Pipe()
	var id string
	var groups []Group
	go func() {
		var err error
		id, groups, err = write(pw)
		if err == nil && r.Made != nil {
			// The request body is not complete before the pipe closes: the load cannot finish
			// before the image is recorded.
			err = r.Made(id)
		}
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, meter.Reader(pr), nil)
	pr.CloseWithError(errors.New("load finished"))
	if err == nil {
		meter.Done()
	}
	if err != nil {
		return Layers{}, fmt.Errorf("load the layers image: %w", err)
	}
	info, found, err := engine.Inspect(ctx, api, id)
	if err == nil && !found {
		err = fmt.Errorf("the engine has no image %s after the load", id)
	}
	if err != nil {
		return Layers{}, fmt.Errorf("load the layers image: %w", err)
	}
	if !slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, groups)) {
		return Layers{}, fmt.Errorf("load the layers image: %s does not have the expected layers", id)
	}
	if err := WriteChain(chainPath, Chain{Base: baseID, Image: id, Compression: set.Compression, Groups: groups}); err != nil {
		return Layers{}, err
	}
	li.ID, li.Groups = id, groups
	return li, nil
}

func chainLayers(base []string, groups []Group) []string {
	out := append([]string{}, base...)
	for _, g := range groups {
		out = append(out, g.DiffID)
	}
	return out
}

// baseLayers returns the base's layer blobs in the engine's containerd content store, read once
// per base image ID (see BaseLayers) and kept in path and, when cacheDir is set, in
// BaseLayersCacheFile there.
func baseLayers(ctx context.Context, api client.APIClient, base Base, path, cacheDir string, logf func(string, ...any)) ([]Descriptor, error) {
	cached := ""
	if cacheDir != "" {
		cached = BaseLayersCacheFile(cacheDir, base)
	}
	for _, p := range []string{path, cached} {
		if layers, ok := readBaseLayers(p, base); ok {
			if p != path {
				if err := writeBaseLayers(path, base, layers); err != nil {
					return nil, err
				}
			}
			return layers, nil
		}
	}
	start := time.Now()
	layers, err := BaseLayers(ctx, api, base.ID, base.OS, base.Architecture)
	if err != nil {
		return nil, err
	}
	logf("read the base image's manifest from the engine in %.1fs (once per base image)", time.Since(start).Seconds())
	if err := writeBaseLayers(path, base, layers); err != nil {
		return nil, err
	}
	if cached != "" {
		// Only a speed-up for the next build directory: a cache that cannot be written is no
		// reason to fail this build.
		if err := writeBaseLayers(cached, base, layers); err != nil {
			logf("warning: %v (the next build directory reads the base's manifest again)", err)
		}
	}
	return layers, nil
}

// baseLayersRecord is the file baseLayers keeps.
type baseLayersRecord struct {
	Base   string       `json:"base"`
	Layers []Descriptor `json:"layers"`
}

// BaseLayersCacheFile is where the blob list of base is kept under a cache directory: named
// by the base's ID (on the containerd store the manifest or index digest, which fixes the
// layers) and the platform the index is resolved for; "" when the ID is no sha256 digest.
func BaseLayersCacheFile(cacheDir string, base Base) string {
	if d, err := digest.Parse(base.ID); err != nil || d.Algorithm() != digest.SHA256 {
		return ""
	}
	platform := base.OS + "-" + base.Architecture
	if base.Variant != "" {
		platform += "-" + base.Variant
	}
	return filepath.Join(cacheDir, "base-layers", layerstore.Hex(base.ID)+"-"+platform+".json")
}

// readBaseLayers reads a record of base's layers from path; false when there is none for this
// base (another base's record, a damaged file, one layer count off).
func readBaseLayers(path string, base Base) ([]Descriptor, bool) {
	if path == "" {
		return nil, false
	}
	var r baseLayersRecord
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &r) != nil || r.Base != base.ID || len(r.Layers) != len(base.DiffIDs) {
		return nil, false
	}
	return r.Layers, true
}

func writeBaseLayers(path string, base Base, layers []Descriptor) error {
	return atomicfile.WriteJSON(path, baseLayersRecord{Base: base.ID, Layers: layers}, 0o644)
}
