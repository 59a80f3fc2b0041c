package bundleimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// AssembleRequest is what Assemble puts the bundle image together from.
type AssembleRequest struct {
	// Context is the bundle's build context without the layer files (PlanContext); Args its
	// build arguments, which give BundleRuntime's Env its values.
	Context    []buildctx.Entry
	Args       map[string]string
	CertTarget string // where the context's certs/ goes (CERT_TARGET)
	// Layers is the engine's layers image (LayersImage): its image store says the format of
	// the archive (WriteTop).
	Layers      Layers
	Store       *layerstore.Store
	Compression layerstore.Compression // the Save stage set's
	Tag         string                 // BUNDLE_TAG, given to the image once it is verified
	// Made records the image's ID before the engine can complete its load (see
	// LayersRequest.Made); nil: not recorded.
	Made func(id string) error
}

// createdBy is the history entry of the bundle's top layer.
const createdBy = "dindbundler: the stack's files (dind/Dockerfile)"

// Assemble puts the bundle image together without a builder: the layers image plus one layer
// with the context's files where dind/Dockerfile copies them (buildctx.Layer; the directories
// they pass through as the base has them) and BundleRuntime's settings, loaded as an archive
// that carries only that layer (WriteTop: an OCI layout on the containerd store, a docker-save
// archive on the classic one), checked to have the layers image's layers plus one, then tagged
// r.Tag. It returns the image's ID.
func Assemble(ctx context.Context, api client.APIClient, r AssembleRequest) (string, error) {
	li := r.Layers
	top, err := topLayer(ctx, api, li.Base.ID, r.Context, r.CertTarget)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	var id string
	go func() {
		var err error
		runtime := func(rc map[string]any) { BundleRuntime.Apply(rc, r.Args) }
		id, err = WriteTop(pw, li, r.Store, r.Compression, top, createdBy, runtime)
		if err == nil && r.Made != nil {
			err = r.Made(id) // before the load can complete (see LayersRequest.Made)
		}
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	info, found, err := engine.Inspect(ctx, api, id)
	if err == nil && !found {
		err = fmt.Errorf("the engine has no image %s after the load", id)
	}
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	if want := len(chainLayers(li.Base.DiffIDs, li.Groups)) + 1; len(info.RootFS.Layers) != want {
		return "", fmt.Errorf("load the bundle image: %s has %d layers, not %d", id, len(info.RootFS.Layers), want)
	}
	if err := engine.Tag(ctx, api, id, r.Tag); err != nil {
		return "", fmt.Errorf("the bundle image: %w", err)
	}
	return id, nil
}

// topLayer is the bundle's top layer: the stack's files only, the image layers being in the
// layers image. The directories it only passes through (/root, /usr/local/bin) are as the base
// (baseID) has them: the engine would otherwise make them 0755 and hide the base's (COPY keeps
// them). The layers image adds only /images, so the base says it.
func topLayer(ctx context.Context, api client.APIClient, baseID string, entries []buildctx.Entry, certTarget string) ([]byte, error) {
	layer := buildctx.Layer(entries, certTarget)
	parents, err := engine.PathHeaders(ctx, api, baseID, buildctx.Parents(layer))
	if err != nil {
		return nil, fmt.Errorf("image: read the base image's directories under the bundle's files: %w", err)
	}
	base := map[string]buildctx.Entry{}
	for p, h := range parents {
		base[p] = buildctx.Entry{Dir: h.Typeflag == tar.TypeDir, Mode: fs.FileMode(h.Mode).Perm(), UID: h.Uid, GID: h.Gid}
	}
	var top bytes.Buffer
	if err := buildctx.Write(&top, buildctx.WithParents(layer, base)); err != nil {
		return nil, fmt.Errorf("image: write the bundle's top layer: %w", err)
	}
	return top.Bytes(), nil
}

// Build is the other way to the same image: the classic builder runs dind/Dockerfile on the
// context (PlanContext with the layer files, FROM the DinD base itself) and tags it tag. It
// returns the image's ID.
func Build(ctx context.Context, api client.APIClient, entries []buildctx.Entry, args map[string]string, tag string, progress io.Writer) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(buildctx.Write(pw, entries)) }()
	id, err := engine.Build(ctx, api, pr, engine.BuildOptions{Tag: tag, BuildArgs: args}, progress)
	pr.CloseWithError(errors.New("build finished"))
	return id, err
}
