// Package registry is the bundle's read-only container registry: it serves the bundle's function
// images (those named under CONTAINER_REGISTRY, the stack's 127.0.0.1:5010) straight from the
// layer files of the bundle's images directory, so that an engine that always pulls before it
// creates a container (ESB's agent) gets them without anything being pushed at boot, and each
// byte is stored once.
//
// This package is its build-time side: PlanIndex decides which images are served and with which
// manifests, and WriteIndex writes the Index the Image stage puts at /app/bundle/registry.json.
// What runs inside the bundle (the index format, the HTTP handler) is package registry/serve,
// kept apart so that cmd/dindbundler-registry links neither the layer store nor the Docker
// client; the names here (Index, NewHandler, Options, …) are serve's.
//
// It must not serve, write anything but the index, or reach the engine.
package registry

import (
	"errors"
	"fmt"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry/serve"
)

// The index and the handler are serve's: see there.
type (
	Index   = serve.Index
	Image   = serve.Image
	Config  = serve.Config
	Layer   = serve.Layer
	Options = serve.Options
	Handler = serve.Handler
)

// DefaultAddress is ESB's CONTAINER_REGISTRY default: the agent pulls function images from it.
const DefaultAddress = serve.DefaultAddress

// IndexPath is where the Image stage writes the index inside the bundle.
const IndexPath = serve.IndexPath

// NewHandler returns the handler serving idx's images from the files in imagesDir (serve.NewHandler).
func NewHandler(idx Index, imagesDir string, opts Options) (*Handler, error) {
	return serve.NewHandler(idx, imagesDir, opts)
}

// ReadIndex reads an index written by WriteIndex.
func ReadIndex(path string) (Index, error) { return serve.ReadIndex(path) }

// Serves reports whether the bundle's registry on address serves the image called name: its
// registry host, as the engine reads the name, is address. PlanIndex decides by the same rule.
func Serves(address, name string) bool {
	named, err := reference.ParseNormalizedNamed(name)
	return err == nil && address != "" && reference.Domain(named) == address
}

// PlanIndex decides what the registry at address serves of set: every image whose reference
// names address as its registry host (parsed as Docker parses it: "esb-echo" is on docker.io,
// "127.0.0.1:5010/esb-echo" on 127.0.0.1:5010), in set order, an image named twice served under
// both names. files gives each blob's own digest and size by content digest (diffID or config
// digest), as layerstore's FileDigests returns them. Every image of set needs its layers'
// uncompressed sizes.
func PlanIndex(address string, set layerstore.Set, files map[string]layerstore.FileDigest) (Index, error) {
	if address == "" {
		return Index{}, errors.New("registry index: no address (CONTAINER_REGISTRY)")
	}
	idx := Index{Address: address, Images: []Image{}}
	seen := map[string]bool{}
	for _, img := range set.Images {
		named, err := reference.ParseNormalizedNamed(img.Name)
		if err != nil {
			return Index{}, fmt.Errorf("registry index: image name %q: %w", img.Name, err)
		}
		if !Serves(address, img.Name) {
			continue
		}
		if _, digested := named.(reference.Digested); digested {
			return Index{}, fmt.Errorf("registry index: %s is named by digest, which the bundle's registry cannot serve (its manifest is the registry's own): name it by tag", img.Name)
		}
		tagged, ok := reference.TagNameOnly(named).(reference.Tagged)
		if !ok {
			return Index{}, fmt.Errorf("registry index: %s has no tag", img.Name)
		}
		full := tagged.String()
		if seen[full] {
			continue
		}
		seen[full] = true
		served, err := planImage(img, set.Compression, files)
		if err != nil {
			return Index{}, fmt.Errorf("registry index: %s: %w", full, err)
		}
		served.Name, served.Repository, served.Tag = full, reference.Path(named), tagged.Tag()
		idx.Images = append(idx.Images, served)
	}
	return idx, nil
}

func planImage(img layerstore.Image, c layerstore.Compression, files map[string]layerstore.FileDigest) (Image, error) {
	var out Image
	if len(img.Sizes) != len(img.DiffIDs) {
		return out, errors.New("the layer store has no layer sizes for it: run the save stage again")
	}
	var err error
	if out.Config.Digest, err = v1.NewHash(img.Config); err != nil {
		return out, fmt.Errorf("config digest: %w", err)
	}
	cf, ok := files[img.Config]
	if !ok {
		return out, fmt.Errorf("no file digest for its config %s", img.Config)
	}
	out.Config.Size, out.Config.File = cf.Size, layerstore.ConfigFile(img.Config)
	for i, d := range img.DiffIDs {
		l := Layer{Size: img.Sizes[i], File: layerstore.LayerFile(d, c), Compression: c}
		if l.DiffID, err = v1.NewHash(d); err != nil {
			return out, fmt.Errorf("layer %d: %w", i, err)
		}
		f, ok := files[d]
		if !ok {
			return out, fmt.Errorf("no file digest for its layer %s", d)
		}
		if l.FileDigest, err = v1.NewHash(f.Digest); err != nil {
			return out, fmt.Errorf("layer %d file: %w", i, err)
		}
		l.FileSize = f.Size
		out.Layers = append(out.Layers, l)
	}
	if _, out.Digest, err = out.Manifest(false); err != nil {
		return out, err
	}
	if _, out.UncompressedDigest, err = out.Manifest(true); err != nil {
		return out, err
	}
	return out, nil
}

// WriteIndex writes idx to path atomically.
func WriteIndex(path string, idx Index) error {
	return atomicfile.WriteJSON(path, idx, 0o644)
}
