// Package serve is the bundle's registry as it runs inside the bundle: the index format it reads
// (Index, written at build time by package registry's PlanIndex) and the read-only HTTP handler
// that serves the index's images from the bundle's layer files (NewHandler), for
// cmd/dindbundler-registry.
//
// The handler is built on go-containerregistry's v1 types (manifests, descriptors, typed
// digests, media types) rather than its pkg/registry server: that server keeps manifests in
// memory, filled only through HTTP PUTs, so it would have to be loaded through its own write
// path and then guarded against every other write; its blob GET copies the body without looking
// at read errors and without a Content-Type, and answers a range by discarding bytes unhashed, so
// a blob whose bytes do not match its digest could not abort the response, which this registry
// must do. What remains of the protocol for a read-only registry (routing four GET/HEAD paths,
// ranges, the error JSON) is smaller than that guard.
//
// It must not write anything: no push, no delete, no file of its own (the index and the layer
// files are read-only inputs), and it must not read layer files at start (the bundle would pay
// for every image at every boot). It never lets a blob's last bytes out before the whole blob
// hashed to the digest the index records. It must stay free of the Docker client and of the
// layer store (the in-bundle binary links it and must stay small), does not choose its address
// or mode (the entrypoint does), and reaches no Docker engine.
package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// DefaultAddress is ESB's CONTAINER_REGISTRY default: the agent pulls function images from it.
const DefaultAddress = "127.0.0.1:5010"

// IndexPath is where the Image stage writes the index inside the bundle.
const IndexPath = "/app/bundle/registry.json"

// Index is the registry's view of the bundle: the images it serves, each with the files its
// blobs are read from. The Image stage writes it (package registry's PlanIndex) next to the bundle's
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
	DiffID      v1.Hash               `json:"diffID"` // digest of the uncompressed tar
	Size        int64                 `json:"size"`   // uncompressed size
	File        string                `json:"file"`   // relative to the images directory
	FileDigest  v1.Hash               `json:"fileDigest"`
	FileSize    int64                 `json:"fileSize"`
	Compression layerfile.Compression `json:"compression"`
}

// layerMediaTypes are the OCI media types of layers as stored.
var layerMediaTypes = map[layerfile.Compression]types.MediaType{
	layerfile.None: types.OCIUncompressedLayer,
	layerfile.Gzip: types.OCILayer,
	layerfile.Zstd: types.OCILayerZStd,
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
