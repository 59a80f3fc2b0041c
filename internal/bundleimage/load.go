package bundleimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/docker/docker/client"

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
}

// LayersImage makes sure the engine has the layers image for r.Set and returns its ID: the
// previous one when it fits, else a new one loaded with only the layers the engine lacks. It
// fails, and the caller sends the layer files in the build context instead, when the engine
// keeps images in containerd (whose `docker load` wants whole archives).
func LayersImage(ctx context.Context, api client.APIClient, r LayersRequest) (string, error) {
	set, store, baseID := r.Set, r.Store, r.BaseID
	logf := r.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// An engine that cannot say is taken as the classic store; the load then tells.
	if containerd, err := engine.ContainerdStore(ctx, api); err == nil && containerd {
		return "", errors.New("the engine uses the containerd image store, which needs whole archives")
	}
	baseInfo, found, err := engine.Inspect(ctx, api, baseID)
	if err == nil && !found {
		err = errors.New("not found")
	}
	if err != nil {
		return "", fmt.Errorf("inspect the base image %s: %w", r.BaseRef, err)
	}
	base := Base{
		Ref: r.BaseRef, ID: baseID, DiffIDs: baseInfo.RootFS.Layers, Created: baseInfo.Created,
		OS: baseInfo.Os, Architecture: baseInfo.Architecture, Variant: baseInfo.Variant,
	}
	if baseInfo.Config != nil {
		if base.Config, err = json.Marshal(baseInfo.Config); err != nil {
			return "", fmt.Errorf("read the base image's config: %w", err)
		}
	}
	chainPath := r.ChainPath
	prev, err := ReadChain(chainPath)
	if err != nil {
		return "", err
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
			return "", err
		}
		live = append(live, Layer{DiffID: d, Size: size})
	}
	plan := PlanChain(reusable, live, DefaultLimits(len(base.DiffIDs)))
	if plan.Reuse == len(plan.Groups) && len(plan.Groups) == len(prev.Groups) && reusable != nil {
		logf("layers image %s is up to date (%d layers)", prev.Image, len(plan.Groups))
		return prev.Image, nil
	}
	logf("loading the layers image: %d of %d layers to send, %s", len(plan.Groups)-plan.Reuse, len(plan.Groups), plan.Reason)
	if err := fresh.RemoveState(chainPath); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	var id string
	var groups []Group
	go func() {
		var err error
		id, groups, err = WriteLayersImage(pw, store, base, plan, set.Compression)
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", fmt.Errorf("load the layers image: %w", err)
	}
	info, found, err := engine.Inspect(ctx, api, id)
	if err == nil && !found {
		err = fmt.Errorf("the engine has no image %s after the load", id)
	}
	if err != nil {
		return "", fmt.Errorf("load the layers image: %w", err)
	}
	if !slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, groups)) {
		return "", fmt.Errorf("load the layers image: %s does not have the expected layers", id)
	}
	if err := WriteChain(chainPath, Chain{Base: baseID, Image: id, Compression: set.Compression, Groups: groups}); err != nil {
		return "", err
	}
	return id, nil
}

func chainLayers(base []string, groups []Group) []string {
	out := append([]string{}, base...)
	for _, g := range groups {
		out = append(out, g.DiffID)
	}
	return out
}
