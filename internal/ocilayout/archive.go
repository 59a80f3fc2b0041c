package ocilayout

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// A load archive is both formats `docker save` writes since Engine 25: an OCI layout (oci-layout,
// index.json, blobs/sha256/…), which the containerd image store loads, and manifest.json, which
// the classic store loads (Engine 20.10 too); both name the same blob files. Each store may be
// sent an archive without the layers it has (planArchive):
//
//   - classic (moby image/tarexport/load.go, Load): the archive is unpacked, then for each layer
//     of manifest.json the store looks the layer up by its chain ID (layerStore.Get) and opens
//     the layer's file only when that fails: a layer it has is never read, its file may be absent.
//   - containerd (moby daemon/containerd/image_exporter.go LoadImage → containerd's
//     archive.ImportIndex): with an oci-layout file the archive's files are ingested into the
//     content store as they come and index.json is taken as is; the image's manifests are read
//     back from the store, its layers are unpacked from the store. A layer blob the store holds
//     may be absent from the archive.
//
// The manifest and config of every image always go in (a few KB).

// layerKeys are how the engine's store knows img's layers, base first: the chain IDs on the
// classic store (its layers are identified by them), the blob digests on the containerd store
// (its content store holds blobs).
func layerKeys(img Image, store engine.ImageStore) []digest.Digest {
	if store == engine.ContainerdStore {
		keys := make([]digest.Digest, len(img.Layers))
		for i, l := range img.Layers {
			keys[i] = l.Digest
		}
		return keys
	}
	return identity.ChainIDs(append([]digest.Digest(nil), img.DiffIDs...))
}

// archivePlan is a load archive's content.
type archivePlan struct {
	Images []Image
	// Blobs are the blob files the archive holds, each once: every manifest and config, and
	// the layers sent.
	Blobs []ocispec.Descriptor
	// Omitted are the layers left out (the engine has them), each once; OmittedBytes their size.
	Omitted      []digest.Digest
	OmittedBytes int64
}

// planArchive plans the archive of imgs for an engine whose store holds the layer keys (layerKeys)
// for which has is true.
func planArchive(imgs []Image, store engine.ImageStore, has func(key digest.Digest) bool) archivePlan {
	p := archivePlan{Images: imgs}
	seen := map[digest.Digest]bool{}
	add := func(d ocispec.Descriptor) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			p.Blobs = append(p.Blobs, d)
		}
	}
	for _, img := range imgs {
		add(img.Manifest)
		add(img.Config)
		keys := layerKeys(img, store)
		for i, l := range img.Layers {
			switch {
			case seen[l.Digest]:
			case has(keys[i]):
				seen[l.Digest] = true
				p.Omitted = append(p.Omitted, l.Digest)
				p.OmittedBytes += l.Size
			default:
				add(l)
			}
		}
	}
	return p
}

// Bytes is the size of the blobs the archive holds.
func (p archivePlan) Bytes() int64 {
	var n int64
	for _, b := range p.Blobs {
		n += b.Size
	}
	return n
}

// blobName is a blob's file in a load archive (and in the layout).
func blobName(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// writeArchive writes p's archive to w, reading the blobs from l's files as it goes (nothing is
// held in memory but one copy buffer).
func writeArchive(w io.Writer, l *Layout, p archivePlan) error {
	tw := tarball.NewWriter(w)
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	var docker []layerstore.ManifestItem
	for _, img := range p.Images {
		m := img.Manifest
		m.Annotations = map[string]string{imageNameAnnotation: img.FullName, ocispec.AnnotationRefName: img.FullName}
		idx.Manifests = append(idx.Manifests, m)
		e := layerstore.ManifestItem{Config: blobName(img.Config.Digest), RepoTags: []string{img.Name}}
		for _, layer := range img.Layers {
			e.Layers = append(e.Layers, blobName(layer.Digest))
		}
		docker = append(docker, e)
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	indexJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	manifestJSON, err := json.Marshal(docker)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layoutJSON}, {ocispec.ImageIndexFile, indexJSON}, {"manifest.json", manifestJSON}} {
		if err := tw.File(f.name, 0o644, f.data); err != nil {
			return err
		}
	}
	for _, b := range p.Blobs {
		if err := copyBlob(tw, l, b); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyBlob(tw *tarball.Writer, l *Layout, b ocispec.Descriptor) error {
	f, err := os.Open(l.BlobPath(b.Digest))
	if err != nil {
		return fmt.Errorf("read blob %s of the OCI layout %s: %w", b.Digest, l.dir, err)
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobName(b.Digest), Size: b.Size, Mode: 0o644}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, io.LimitReader(f, b.Size)); err != nil {
		return fmt.Errorf("read blob %s of the OCI layout %s: %w", b.Digest, l.dir, err)
	}
	return nil
}
