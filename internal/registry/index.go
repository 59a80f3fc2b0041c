// Package registry is the bundle's read-only container registry: it serves the bundle's function
// images (those named after CONTAINER_REGISTRY, 127.0.0.1:5010 by default) straight from the
// layer files of the bundle's images directory, so that an engine that always pulls before it
// creates a container (ESB's agent) gets them without anything being pushed at boot, and each
// byte is stored once.
//
// It owns the registry's view of the bundle (Index, written by the Image stage at
// /app/bundle/registry.json; PlanIndex decides which images are served and their manifests) and
// the HTTP handler that serves it (NewHandler), used by cmd/dindbundler-registry.
//
// The handler is built on go-containerregistry's v1 types (manifests, descriptors, typed
// digests, media types) rather than its pkg/registry server: that server keeps manifests in
// memory, filled only through HTTP PUTs, so it would have to be loaded through its own write
// path and then guarded against every other write; its blob GET copies the body without looking
// at read errors and without a Content-Type, so a blob whose bytes do not match its digest could
// not abort the response, which this registry must do. What remains of the protocol for a
// read-only registry (routing four GET/HEAD paths, the error JSON) is smaller than that guard.
//
// It must not write anything: no push, no delete, no file of its own (the index and the layer
// files are read-only inputs), and it must not read layer files at start (the bundle would pay
// for every image at every boot). It never serves a byte it has not checked: a layer whose bytes
// do not hash to the digest the index records is cut off before its last bytes leave. It does
// not choose its address or mode (the entrypoint does), and it reaches no Docker engine.
package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// DefaultAddress is ESB's CONTAINER_REGISTRY default: the agent pulls function images from it.
const DefaultAddress = "127.0.0.1:5010"

// IndexPath is where the Image stage writes the index inside the bundle.
const IndexPath = "/app/bundle/registry.json"

// Index is the registry's view of the bundle: the images it serves, each with the files its
// blobs are read from. The Image stage writes it (PlanIndex, WriteIndex) next to the bundle's
// manifest; the registry only reads it.
type Index struct {
	// Address is the registry's host:port, the host part of every served image's name.
	Address string  `json:"address"`
	Images  []Image `json:"images"`
}

// Image is one served image: one repository and tag.
type Image struct {
	Name       string  `json:"name"`       // the full reference, e.g. 127.0.0.1:5010/esb-echo:latest
	Repository string  `json:"repository"` // its path in the registry, e.g. esb-echo
	Tag        string  `json:"tag"`
	Config     Config  `json:"config"`
	Layers     []Layer `json:"layers"` // base first
	// Digest is the digest of the manifest served for the layers as stored; UncompressedDigest
	// the one served when layers are decompressed on the fly (Options.Uncompressed).
	Digest             v1.Hash `json:"digest"`
	UncompressedDigest v1.Hash `json:"uncompressedDigest"`
}

// Config is an image's config blob.
type Config struct {
	Digest v1.Hash `json:"digest"`
	Size   int64   `json:"size"`
	File   string  `json:"file"` // relative to the images directory
}

// Layer is one layer of an image and the file that holds it.
type Layer struct {
	DiffID      v1.Hash                `json:"diffID"` // digest of the uncompressed tar
	Size        int64                  `json:"size"`   // uncompressed size
	File        string                 `json:"file"`   // relative to the images directory
	FileDigest  v1.Hash                `json:"fileDigest"`
	FileSize    int64                  `json:"fileSize"`
	Compression layerstore.Compression `json:"compression"`
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
		if reference.Domain(named) != address {
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

// layerMediaTypes are the OCI media types of layers as stored.
var layerMediaTypes = map[layerstore.Compression]types.MediaType{
	layerstore.None: types.OCIUncompressedLayer,
	layerstore.Gzip: types.OCILayer,
	layerstore.Zstd: types.OCILayerZStd,
}

// Manifest is the OCI image manifest the registry serves for img and its digest: layers as
// stored, or decompressed (their digests the diffIDs, their sizes the uncompressed sizes). The
// bytes depend on img alone, so a manifest's digest is the same at every start.
func (img Image) Manifest(uncompressed bool) ([]byte, v1.Hash, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: img.Config.Size, Digest: img.Config.Digest},
		Layers:        make([]v1.Descriptor, 0, len(img.Layers)),
	}
	for _, l := range img.Layers {
		d := v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: l.Size, Digest: l.DiffID}
		if !uncompressed {
			mt, ok := layerMediaTypes[l.Compression]
			if !ok {
				return nil, v1.Hash{}, fmt.Errorf("layer %s: unknown compression %q", l.DiffID, l.Compression)
			}
			d = v1.Descriptor{MediaType: mt, Size: l.FileSize, Digest: l.FileDigest}
		}
		m.Layers = append(m.Layers, d)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("manifest of %s: %w", img.Name, err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(data))
	return data, h, err
}

// ReadIndex reads an index written by WriteIndex.
func ReadIndex(path string) (Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Index{}, fmt.Errorf("read the registry index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return Index{}, fmt.Errorf("read the registry index %s: %w (rebuild the bundle)", path, err)
	}
	return idx, nil
}

// WriteIndex writes idx to path atomically.
func WriteIndex(path string, idx Index) error {
	return atomicfile.WriteJSON(path, idx, 0o644)
}
