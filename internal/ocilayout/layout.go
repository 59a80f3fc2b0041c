// Package ocilayout owns the project's on-disk OCI image layout: one directory (oci-layout,
// index.json, blobs/sha256/…) that a standalone buildkitd exports every image of a run into (and
// into which another engine's images come from its `docker save`: savein.go), and from which
// images go into the bundling engine as load archives holding only the blobs that engine lacks
// (Loader).
//
// Use: Open a layout (Close when done), give an exporter its Store and Tag what it wrote (or
// IngestSave an engine's image), then NewLoader(layout, engine).Load(ctx, names...) — also on an
// engine that has nothing yet, which then gets every layer (Names lists what the layout holds).
// Prune drops what no image uses; PruneRetaining also keeps images index.json no longer names and
// what other layouts sharing the blob directory reach (a local build cache's). CopyImage puts an
// image of one layout into another (hard links where it can).
//
// It reads and writes the layout's files and builds load archives; every Docker call goes
// through internal/engine. It knows nothing of BuildKit, the bundle or what is built.
package ocilayout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/gofrs/flock"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// Layout is an OCI image layout directory. Several goroutines (and processes) may export into
// one layout at once: blobs are written by containerd's local content store (an ingest file
// renamed into blobs/ once its digest checks), index.json is rewritten whole (temp file +
// rename) under a lock held by this process and, for other processes, a lock file.
type Layout struct {
	dir   string
	store content.Store
	// inUse is held shared from Open to Close: Prune removes blobs only when no other Layout
	// (in this process or another) has the directory open.
	inUse *flock.Flock
	mu    sync.Mutex // index.json within this process
	// received counts the bytes written into the layout's blobs through Store.
	received atomic.Int64
}

// Open opens the layout at dir, making it (and dir) when it is not there yet.
func Open(dir string) (*Layout, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the OCI layout %s: %w", dir, err)
	}
	layoutFile := filepath.Join(dir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layoutFile); errors.Is(err, os.ErrNotExist) {
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := atomicfile.Write(layoutFile, b, 0o644); err != nil {
			return nil, fmt.Errorf("make the OCI layout %s: %w", dir, err)
		}
	}
	store, err := contentlocal.NewStore(dir)
	if err != nil {
		return nil, fmt.Errorf("open the OCI layout %s: %w", dir, err)
	}
	inUse := flock.New(filepath.Join(dir, inUseFile))
	if err := inUse.RLock(); err != nil {
		return nil, fmt.Errorf("open the OCI layout %s: lock it: %w", dir, err)
	}
	return &Layout{dir: dir, store: store, inUse: inUse}, nil
}

// inUseFile is the lock file every open Layout holds shared.
const inUseFile = "layout.lock"

// Close says this Layout is done with the directory (see Prune).
func (l *Layout) Close() error { return l.inUse.Close() }

// Dir is the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// Store is the layout's blobs as a content store, for an exporter to write into (BuildKit's
// OutputStore). A blob the layout has already is not written again: a writer for it fails with
// containerd's "already exists", which is how BuildKit's exporter learns to skip it.
func (l *Layout) Store() content.Store { return countingStore{Store: l.store, n: &l.received} }

// Received is how many bytes were written into the layout's blobs through Store since Open.
func (l *Layout) Received() int64 { return l.received.Load() }

// BlobPath is where the layout keeps the blob d.
func (l *Layout) BlobPath(d digest.Digest) string {
	return filepath.Join(l.dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// Tag names desc (an image manifest in the layout) name in index.json, replacing what the name
// named before.
func (l *Layout) Tag(name string, desc ocispec.Descriptor) error {
	full, err := normalize(name)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lock := flock.New(filepath.Join(l.dir, "index.json.lock"))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock %s to name %s: %w", l.dir, name, err)
	}
	defer lock.Unlock()
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	desc.Annotations = map[string]string{imageNameAnnotation: full}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Annotations[imageNameAnnotation] != full {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, desc)
	sort.Slice(idx.Manifests, func(i, j int) bool {
		return idx.Manifests[i].Annotations[imageNameAnnotation] < idx.Manifests[j].Annotations[imageNameAnnotation]
	})
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(l.dir, ocispec.ImageIndexFile), b, 0o644); err != nil {
		return fmt.Errorf("name %s in the OCI layout %s: %w", name, l.dir, err)
	}
	return nil
}

// imageNameAnnotation holds an image's full name in index.json (containerd's and BuildKit's
// annotation; the engine's containerd store takes an image's name from it on load).
const imageNameAnnotation = "io.containerd.image.name"

func (l *Layout) readIndex() (ocispec.Index, error) {
	p := filepath.Join(l.dir, ocispec.ImageIndexFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}, nil
	}
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("read the OCI layout's index %s: %w", p, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("read the OCI layout's index %s: %w (remove the layout %s: the next run exports again)", p, err, l.dir)
	}
	return idx, nil
}

// Image is one image of the layout: its manifest, its config and its layers, base first.
type Image struct {
	Name     string // as given (name:tag)
	FullName string // normalized: docker.io/library/name:tag
	Manifest ocispec.Descriptor
	Config   ocispec.Descriptor
	Layers   []ocispec.Descriptor
	// DiffIDs are the layers' uncompressed digests (the config's rootfs), base first.
	DiffIDs []digest.Digest
}

// Image reads the image named name from the layout.
func (l *Layout) Image(name string) (Image, error) {
	full, err := normalize(name)
	if err != nil {
		return Image{}, err
	}
	l.mu.Lock()
	idx, err := l.readIndex()
	l.mu.Unlock()
	if err != nil {
		return Image{}, err
	}
	for _, m := range idx.Manifests {
		if m.Annotations[imageNameAnnotation] == full {
			img, err := l.imageOf(m)
			if err != nil {
				return Image{}, fmt.Errorf("read image %s from the OCI layout %s: %w", name, l.dir, err)
			}
			img.Name, img.FullName = name, full
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("the OCI layout %s has no image %s (export it there first)", l.dir, name)
}

// Names are the names of the layout's images, as the engine shows them (name:tag), sorted.
func (l *Layout) Names() ([]string, error) {
	manifests, err := l.Manifests()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range manifests {
		full := m.Annotations[imageNameAnnotation]
		ref, err := reference.ParseNormalizedNamed(full)
		if err != nil {
			return nil, fmt.Errorf("the OCI layout %s names an image %q: %w", l.dir, full, err)
		}
		names = append(names, reference.FamiliarString(ref))
	}
	sort.Strings(names)
	return names, nil
}

// Manifests is every manifest index.json names, by digest: for a Loader, what the layout could
// tell of an engine image whose ID is one of them.
func (l *Layout) Manifests() ([]ocispec.Descriptor, error) {
	l.mu.Lock()
	idx, err := l.readIndex()
	l.mu.Unlock()
	return idx.Manifests, err
}

// imageOf reads the manifest m and its config.
func (l *Layout) imageOf(m ocispec.Descriptor) (Image, error) {
	if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != mediaTypeDockerManifest {
		return Image{}, fmt.Errorf("%s is a %s, not one image's manifest (build for one platform, without attestations)", m.Digest, m.MediaType)
	}
	var man ocispec.Manifest
	if err := l.readJSON(m.Digest, &man); err != nil {
		return Image{}, err
	}
	var cfg ocispec.Image
	if err := l.readJSON(man.Config.Digest, &cfg); err != nil {
		return Image{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(man.Layers) {
		return Image{}, fmt.Errorf("manifest %s has %d layers, its config %d", m.Digest, len(man.Layers), len(cfg.RootFS.DiffIDs))
	}
	return Image{Manifest: ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
		Config: man.Config, Layers: man.Layers, DiffIDs: cfg.RootFS.DiffIDs}, nil
}

const mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

func (l *Layout) readJSON(d digest.Digest, v any) error {
	if err := d.Validate(); err != nil {
		return err
	}
	b, err := os.ReadFile(l.BlobPath(d))
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	if digest.FromBytes(b) != d && d.Algorithm() == digest.SHA256 {
		return fmt.Errorf("blob %s does not match its digest (remove it from %s: the next export writes it again)", d, l.dir)
	}
	return json.Unmarshal(b, v)
}

// normalize is name's full form (docker.io/library/name:tag), as the engine names images.
func normalize(name string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", name, err)
	}
	return reference.TagNameOnly(ref).String(), nil
}

// countingStore counts the bytes written into a content store.
type countingStore struct {
	content.Store
	n *atomic.Int64
}

// Writer waits while another writer holds the same ingest (two builds exporting one blob at
// once) rather than answer "unavailable": containerd's fetch would retry too, but the session's
// content service logs every such answer as an error on the run's output.
func (s countingStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	wait := 10 * time.Millisecond
	for {
		w, err := s.Store.Writer(ctx, opts...)
		if err == nil {
			return countingWriter{Writer: w, n: s.n}, nil
		}
		if !cerrdefs.IsUnavailable(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

type countingWriter struct {
	content.Writer
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.n.Add(int64(n))
	return n, err
}

var _ io.Writer = countingWriter{}
