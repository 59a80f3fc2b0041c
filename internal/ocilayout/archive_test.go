package ocilayout

import (
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
)

func blob(s string, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{Digest: digest.FromString(s), Size: size}
}

// image is an image whose layers are named by names (their blob), with diffIDs from the names too.
func image(name string, layers ...string) Image {
	img := Image{Name: name, Manifest: blob("manifest "+name, 1), Config: blob("config "+name, 2)}
	for _, l := range layers {
		img.Layers = append(img.Layers, blob("blob "+l, 100))
		img.DiffIDs = append(img.DiffIDs, digest.FromString("diff "+l))
	}
	return img
}

// TestPlanArchive: which blob files a load archive holds, given what the engine has: every
// manifest and config; a layer once; not a layer the engine has — by chain ID on the classic
// store (the same layer on another base is another layer), by blob on the containerd store.
func TestPlanArchive(t *testing.T) {
	fn1, fn2 := image("fn1:t", "base", "top1"), image("fn2:t", "base", "top2")
	other := image("other:t", "elsewhere", "base") // "base" on another parent
	chain := func(img Image, n int) digest.Digest { return identity.ChainID(img.DiffIDs[:n]) }
	tests := []struct {
		name        string
		store       engine.ImageStore
		imgs        []Image
		has         []digest.Digest
		wantLayers  []string // blob names of the layers sent
		wantOmitted int
	}{
		{name: "nothing there: every layer once", store: engine.ClassicStore, imgs: []Image{fn1, fn2},
			wantLayers: []string{"base", "top1", "top2"}},
		{name: "classic: the base's chain is there", store: engine.ClassicStore, imgs: []Image{fn1, fn2},
			has: []digest.Digest{chain(fn1, 1)}, wantLayers: []string{"top1", "top2"}, wantOmitted: 1},
		{name: "classic: all of fn1 there", store: engine.ClassicStore, imgs: []Image{fn1},
			has: []digest.Digest{chain(fn1, 1), chain(fn1, 2)}, wantOmitted: 2},
		{name: "classic: the top's chain alone is not the base's", store: engine.ClassicStore, imgs: []Image{fn1},
			has: []digest.Digest{chain(fn2, 2)}, wantLayers: []string{"base", "top1"}},
		{name: "classic: the same blob on another parent is sent", store: engine.ClassicStore, imgs: []Image{other},
			has: []digest.Digest{chain(fn1, 1)}, wantLayers: []string{"elsewhere", "base"}},
		{name: "containerd: by blob, whatever the parent", store: engine.ContainerdStore, imgs: []Image{other, fn1},
			has: []digest.Digest{digest.FromString("blob base")}, wantLayers: []string{"elsewhere", "top1"}, wantOmitted: 1},
		{name: "containerd: nothing there", store: engine.ContainerdStore, imgs: []Image{fn1},
			wantLayers: []string{"base", "top1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			has := map[digest.Digest]bool{}
			for _, k := range tt.has {
				has[k] = true
			}
			p := planArchive(tt.imgs, tt.store, func(k digest.Digest) bool { return has[k] })
			want := map[digest.Digest]bool{}
			var size int64
			for _, img := range tt.imgs {
				want[img.Manifest.Digest], want[img.Config.Digest] = true, true
				size += 3
			}
			for _, l := range tt.wantLayers {
				want[digest.FromString("blob "+l)] = true
				size += 100
			}
			got := map[digest.Digest]bool{}
			for _, b := range p.Blobs {
				is.True(!got[b.Digest]) // each blob once
				got[b.Digest] = true
			}
			is.Equal(got, want)
			is.Equal(len(p.Omitted), tt.wantOmitted)
			is.Equal(p.OmittedBytes, int64(100*tt.wantOmitted))
			is.Equal(p.Bytes(), size)
		})
	}
}

// TestLoadError: a failed load names the images, the layout, the engine and how far it read,
// and a broken connection says that the engine's own answer is lost.
func TestLoadError(t *testing.T) {
	brokenPipe := &url.Error{Op: "Post", URL: "http://engine.test:2375/images/load", Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		err  error
		want []string
		lost bool // the message says the engine's answer is lost
	}{
		{err: brokenPipe, want: []string{"fn:t", "/layout", "tcp://engine.test:2375", "after 12.3 MB", "its log says why", "broken pipe"}, lost: true},
		{err: reset, want: []string{"connection reset"}, lost: true},
		{err: errors.New("Error response from daemon: no space left on device"), want: []string{"after 12.3 MB", "its log says why", "no space left"}},
	}
	for _, tt := range tests {
		is := is.New(t)
		got := loadError([]string{"fn:t"}, "/layout", "tcp://engine.test:2375", 12_345_678, tt.err)
		is.True(errors.Is(got, tt.err))
		for _, w := range tt.want {
			if !strings.Contains(got.Error(), w) {
				t.Errorf("%q\nlacks %q", got, w)
			}
		}
		is.Equal(strings.Contains(got.Error(), "the engine closed the connection, and its answer is lost"), tt.lost)
	}
}
