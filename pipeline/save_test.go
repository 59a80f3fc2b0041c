package pipeline

import (
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

func TestSaveWants(t *testing.T) {
	ids := map[string]string{"a:1": "sha256:a", "a:latest": "sha256:a", "b:1": "sha256:b", "c:1": "sha256:c"}
	names := []string{"a:1", "a:latest", "b:1", "c:1"}
	tests := []struct {
		name   string
		absent []string
		want   []layerstore.Want
	}{
		{"nothing absent", nil, nil},
		{"one name per image ID", []string{"sha256:a", "sha256:c"}, []layerstore.Want{{Name: "a:1", ID: "sha256:a"}, {Name: "c:1", ID: "sha256:c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(saveWants(names, ids, tt.absent), tt.want)
		})
	}
}

func TestReadSetRefusesOtherImages(t *testing.T) {
	dir := t.TempDir()
	b := &Bundler{Config: config.Config{BuildDir: dir, Compression: "gzip"}}
	m := manifest.Manifest{Images: []manifest.Image{{Name: "a:1", Digest: "sha256:a"}, {Name: "b:1", Digest: "sha256:b"}}}
	tests := []struct {
		name    string
		set     layerstore.Set
		wantErr []string
	}{
		{"an image left out", layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{{Name: "a:1", ID: "sha256:a"}}},
			[]string{"image b:1 is not among the saved images", "run the save stage"}},
		{"an image saved with another ID", layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{{Name: "a:1", ID: "sha256:a"}, {Name: "b:1", ID: "sha256:old"}}},
			[]string{"image b:1 was saved as sha256:old"}},
		{"an image no longer in the manifest", layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{{Name: "a:1", ID: "sha256:a"}, {Name: "b:1", ID: "sha256:b"}, {Name: "gone:1", ID: "sha256:g"}}},
			[]string{"image gone:1 was saved but is not in the manifest"}},
		{"another compression", layerstore.Set{Compression: layerstore.Zstd},
			[]string{"compressed as zstd, BUNDLE_COMPRESSION is gzip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.NoErr(layerstore.WriteSet(b.setPath(), tt.set))
			_, _, err := b.readSet(m)
			is.True(err != nil)
			for _, w := range tt.wantErr {
				is.True(strings.Contains(err.Error(), w)) // says which image and what to do
			}
		})
	}
}
