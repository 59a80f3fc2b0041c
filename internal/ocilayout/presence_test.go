package ocilayout

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"testing"

	imagetypes "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// TestProbableLayers: a layer is probable when its chain — it and every layer beneath it — is
// one the engine has; the same diffID on another parent is not.
func TestProbableLayers(t *testing.T) {
	fn := image("fn:t", "base", "mid", "top")
	other := image("other:t", "elsewhere", "base")
	chain := func(img Image, n int) digest.Digest { return identity.ChainID(img.DiffIDs[:n]) }
	tests := []struct {
		name   string
		img    Image
		chains []digest.Digest
		want   []digest.Digest
	}{
		{name: "nothing known", img: fn},
		{name: "the base", img: fn, chains: []digest.Digest{chain(fn, 1)}, want: []digest.Digest{fn.Layers[0].Digest}},
		{name: "base and mid", img: fn, chains: []digest.Digest{chain(fn, 1), chain(fn, 2)},
			want: []digest.Digest{fn.Layers[0].Digest, fn.Layers[1].Digest}},
		{name: "the base's diffID on another parent", img: other, chains: []digest.Digest{chain(fn, 1)}},
		{name: "a diffID alone is no chain", img: fn, chains: []digest.Digest{fn.DiffIDs[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			chains := map[digest.Digest]bool{}
			for _, c := range tt.chains {
				chains[c] = true
			}
			is.Equal(probableLayers(tt.img, chains), tt.want)
		})
	}
}

// TestAvailableManifest: an image is complete only when inspect lists its manifest as available.
func TestAvailableManifest(t *testing.T) {
	m := digest.FromString("m")
	tests := []struct {
		name      string
		manifests []imagetypes.ManifestSummary
		want      bool
	}{
		{name: "available", manifests: []imagetypes.ManifestSummary{{ID: "sha256:other"}, {ID: m.String(), Available: true}}, want: true},
		{name: "a blob missing", manifests: []imagetypes.ManifestSummary{{ID: m.String()}}},
		{name: "not listed", manifests: []imagetypes.ManifestSummary{{ID: "sha256:other", Available: true}}},
		{name: "none listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(availableManifest(tt.manifests, m), tt.want)
		})
	}
}

// TestLoaderAssumesAPulledBase: on the containerd store, a base the engine pulled (its ID is an
// index digest the layout lacks) is left out of the loads of images built on it when the engine
// can check afterwards (API 1.48); when the engine's blobs of those layers are other blobs
// (compressed otherwise), the check finds the image incomplete and the load goes again whole,
// once: the next image's load then leaves the base out for good. An older engine is told nothing.
func TestLoaderAssumesAPulledBase(t *testing.T) {
	tests := []struct {
		name        string
		version     string
		sameBlobs   bool // the engine holds the base as the layout's blobs
		wantOmitted [2]bool
		wantRetries int64
		wantChecks  int // inspects asking for manifests: the base's (presence), then each load's
	}{
		{name: "Engine 28, the same blobs", version: "1.51", sameBlobs: true, wantOmitted: [2]bool{true, true}, wantChecks: 3},
		// fn1 is checked twice: without the base, then with it.
		{name: "Engine 28, other blobs", version: "1.51", wantOmitted: [2]bool{false, true}, wantRetries: 1, wantChecks: 4},
		// The first load brings the base; the second leaves it out.
		{name: "Engine 27: not told", version: "1.47", sameBlobs: true, wantOmitted: [2]bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			ctx := context.Background()
			l, err := Open(t.TempDir())
			is.NoErr(err)
			defer l.Close()
			is.NoErr(l.Tag("fn1:t", writeImage(t, l, "base1", "base2", "top1")))
			is.NoErr(l.Tag("fn2:t", writeImage(t, l, "base1", "base2", "top2")))

			f := newFakeContainerd(tt.version)
			base := fakeImage{id: digest.FromString("the registry's index")}
			for _, s := range []string{"base1", "base2"} {
				b := digest.FromString(s) // writeImage's blob is the layer itself
				if !tt.sameBlobs {
					b = digest.FromString("gzip " + s)
				}
				base.layers = append(base.layers, b)
				base.diffIDs = append(base.diffIDs, digest.FromString(s))
			}
			f.add("base:1", base)

			ld := NewLoader(l, engine.Of(f))
			for i, name := range []string{"fn1:t", "fn2:t"} {
				res, err := ld.Load(ctx, name)
				is.NoErr(err)
				is.Equal(res.Omitted == int64(len("base1")+len("base2")), tt.wantOmitted[i]) // the base left out
				img, _ := l.Image(name)
				is.True(f.available(name, img.Manifest.Digest)) // every blob there
			}
			is.Equal(ld.Retries(), tt.wantRetries)
			is.Equal(f.checks, tt.wantChecks)
		})
	}
}

// TestLoaderBringsARefutedBaseOnce: images on a base assumed in the engine but held there as
// other blobs, loaded at once: each load finds its image incomplete, and the base then goes in
// once, not once per image.
func TestLoaderBringsARefutedBaseOnce(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	l, err := Open(t.TempDir())
	is.NoErr(err)
	defer l.Close()
	var names []string
	for i := range 4 {
		names = append(names, fmt.Sprintf("fn%d:t", i))
		is.NoErr(l.Tag(names[i], writeImage(t, l, "base1", "base2", fmt.Sprint("top", i))))
	}
	f := newFakeContainerd("1.51")
	base := fakeImage{id: digest.FromString("the registry's index")}
	for _, s := range []string{"base1", "base2"} {
		base.layers = append(base.layers, digest.FromString("gzip "+s))
		base.diffIDs = append(base.diffIDs, digest.FromString(s))
	}
	f.add("base:1", base)

	ld := NewLoader(l, engine.Of(f))
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			_, err := ld.Load(ctx, name)
			is.NoErr(err)
		})
	}
	wg.Wait()
	for _, s := range []string{"base1", "base2"} {
		is.Equal(f.received[digest.FromString(s)], 1) // the layout's base blobs went in once
	}
	for _, name := range names {
		img, _ := l.Image(name)
		is.True(f.available(name, img.Manifest.Digest))
	}
	t.Logf("%d loads, %d retried", len(names), ld.Retries())
}

// TestLoaderChecksTheLayoutsOwnImages: an engine image whose manifest the layout holds tells its
// blobs exactly; on Engine 28 the loads leaving them out are checked too (a removed blob would
// show), and an older engine is trusted as before.
func TestLoaderChecksTheLayoutsOwnImages(t *testing.T) {
	for _, version := range []string{"1.51", "1.47"} {
		t.Run(version, func(t *testing.T) {
			is := is.New(t)
			ctx := context.Background()
			l, err := Open(t.TempDir())
			is.NoErr(err)
			defer l.Close()
			is.NoErr(l.Tag("fn1:t", writeImage(t, l, "base", "top1")))
			is.NoErr(l.Tag("fn2:t", writeImage(t, l, "base", "top2")))
			f := newFakeContainerd(version)
			_, err = NewLoader(l, engine.Of(f)).Load(ctx, "fn1:t")
			is.NoErr(err)
			f.checks = 0

			ld := NewLoader(l, engine.Of(f)) // the next run
			res, err := ld.Load(ctx, "fn2:t")
			is.NoErr(err)
			is.Equal(res.Omitted, int64(len("base")))
			is.Equal(f.checks, map[string]int{"1.51": 1, "1.47": 0}[version])
		})
	}
}

// fakeContainerd is an engine on the containerd image store as far as a Loader sees it, which
// loads as containerd's import and moby's unpack do: every file of the archive goes into the
// content store, the images of index.json are made whatever blobs they lack, and a layer whose
// chain is unpacked already is not read.
type fakeContainerd struct {
	client.APIClient // nil: other calls panic
	version          string

	mu     sync.Mutex
	blobs  map[digest.Digest]bool
	chains map[digest.Digest]bool // the snapshots
	images map[string]fakeImage   // by name and by ID
	checks int                    // inspects asking for manifests
	// received counts the archives each blob came in.
	received map[digest.Digest]int
}

type fakeImage struct {
	id      digest.Digest
	diffIDs []digest.Digest
	layers  []digest.Digest // blobs
}

func newFakeContainerd(version string) *fakeContainerd {
	return &fakeContainerd{version: version, blobs: map[digest.Digest]bool{}, chains: map[digest.Digest]bool{},
		images: map[string]fakeImage{}, received: map[digest.Digest]int{}}
}

// add makes the engine hold img (its blobs, unpacked) under name.
func (f *fakeContainerd) add(name string, img fakeImage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range img.layers {
		f.blobs[b] = true
	}
	for _, c := range identity.ChainIDs(append([]digest.Digest(nil), img.diffIDs...)) {
		f.chains[c] = true
	}
	f.images[name], f.images[img.id.String()] = img, img
}

func (f *fakeContainerd) available(name string, manifest digest.Digest) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[name]
	if !ok || img.id != manifest {
		return false
	}
	for _, b := range img.layers {
		if !f.blobs[b] {
			return false
		}
	}
	return true
}

func (f *fakeContainerd) ClientVersion() string { return f.version }
func (f *fakeContainerd) DaemonHost() string    { return "tcp://fake.test:2375" }

func (f *fakeContainerd) Info(context.Context) (system.Info, error) {
	return system.Info{DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}, nil
}

func (f *fakeContainerd) ImageList(context.Context, imagetypes.ListOptions) ([]imagetypes.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[digest.Digest]bool{}
	var out []imagetypes.Summary
	for _, img := range f.images {
		if !seen[img.id] {
			seen[img.id] = true
			out = append(out, imagetypes.Summary{ID: img.id.String()})
		}
	}
	return out, nil
}

func (f *fakeContainerd) ImageInspect(_ context.Context, ref string, opts ...client.ImageInspectOption) (imagetypes.InspectResponse, error) {
	f.mu.Lock()
	img, ok := f.images[ref]
	f.mu.Unlock()
	if !ok {
		return imagetypes.InspectResponse{}, errNotFound{}
	}
	if len(opts) > 0 { // the one option a Loader passes: the manifests
		if f.version < "1.48" {
			return imagetypes.InspectResponse{}, errors.New("manifests: the engine's API is too old")
		}
		f.mu.Lock()
		f.checks++
		f.mu.Unlock()
	}
	info := imagetypes.InspectResponse{ID: img.id.String()}
	for _, d := range img.diffIDs {
		info.RootFS.Layers = append(info.RootFS.Layers, d.String())
	}
	info.Manifests = []imagetypes.ManifestSummary{{ID: img.id.String(), Available: f.available(ref, img.id)}}
	return info, nil
}

type errNotFound struct{}

func (errNotFound) Error() string { return "no such image" }
func (errNotFound) NotFound()     {}

func (f *fakeContainerd) ImageLoad(_ context.Context, input io.Reader, _ ...client.ImageLoadOption) (imagetypes.LoadResponse, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(input)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return imagetypes.LoadResponse{}, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return imagetypes.LoadResponse{}, err
		}
		files[h.Name] = b
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return imagetypes.LoadResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range files {
		if strings.HasPrefix(name, "blobs/sha256/") {
			d := digest.NewDigestFromEncoded(digest.SHA256, path.Base(name))
			f.blobs[d] = true
			f.received[d]++
		}
	}
	for _, m := range idx.Manifests {
		var man ocispec.Manifest
		var cfg ocispec.Image
		if err := json.Unmarshal(files[blobName(m.Digest)], &man); err != nil {
			return imagetypes.LoadResponse{}, err
		}
		if err := json.Unmarshal(files[blobName(man.Config.Digest)], &cfg); err != nil {
			return imagetypes.LoadResponse{}, err
		}
		img := fakeImage{id: m.Digest, diffIDs: cfg.RootFS.DiffIDs}
		var chain []digest.Digest
		unpacked := true
		for i, l := range man.Layers {
			img.layers = append(img.layers, l.Digest)
			chain = append(chain, cfg.RootFS.DiffIDs[i])
			c := identity.ChainID(chain)
			if !f.chains[c] {
				unpacked = unpacked && f.blobs[l.Digest] // moby prints an unpack error, and the load succeeds
				if unpacked {
					f.chains[c] = true
				}
			}
		}
		name := strings.TrimPrefix(m.Annotations[imageNameAnnotation], "docker.io/library/")
		f.images[name], f.images[m.Digest.String()] = img, img
	}
	return imagetypes.LoadResponse{Body: io.NopCloser(strings.NewReader(""))}, nil
}
