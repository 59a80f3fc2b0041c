package bundleimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
)

// The base's blob list is named by the base's digest and platform, so a cache directory shared
// by build directories can only ever answer for the same base.
func TestBaseLayersCacheFile(t *testing.T) {
	id := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		base Base
		want string
	}{
		{"amd64", Base{ID: id, OS: "linux", Architecture: "amd64"}, "/c/base-layers/" + id[7:] + "-linux-amd64.json"},
		{"arm variant", Base{ID: id, OS: "linux", Architecture: "arm", Variant: "v7"}, "/c/base-layers/" + id[7:] + "-linux-arm-v7.json"},
		{"not a digest", Base{ID: "../../etc/x", OS: "linux", Architecture: "amd64"}, ""},
		{"short digest", Base{ID: "sha256:abc", OS: "linux", Architecture: "amd64"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(BaseLayersCacheFile("/c", tt.base), tt.want)
		})
	}
}

// A new build directory finds the base's blobs in the cache directory without asking the
// engine (no client here: a call would panic), and keeps them in its own state as well; a
// record of another base, or with another layer count, is not used.
func TestBaseLayersFromCache(t *testing.T) {
	is := is.New(t)
	id := "sha256:" + strings.Repeat("cd", 32)
	base := Base{ID: id, OS: "linux", Architecture: "amd64", DiffIDs: []string{"sha256:" + strings.Repeat("01", 32)}}
	layers := []Descriptor{{MediaType: mediaLayer + "+gzip", Digest: digest.Digest("sha256:" + strings.Repeat("02", 32)), Size: 42}}
	cacheDir, state := t.TempDir(), filepath.Join(t.TempDir(), "state", "layers-base.json")
	is.NoErr(writeBaseLayers(BaseLayersCacheFile(cacheDir, base), base, layers))

	got, err := baseLayers(context.Background(), nil, base, state, cacheDir, t.Logf)
	is.NoErr(err)
	is.Equal(got, layers)
	again, ok := readBaseLayers(state, base) // the build directory's own record
	is.True(ok)
	is.Equal(again, layers)

	other := base
	other.ID = "sha256:" + strings.Repeat("ef", 32)
	_, ok = readBaseLayers(state, other) // another base's record
	is.True(!ok)
	more := base
	more.DiffIDs = append(more.DiffIDs, "sha256:"+strings.Repeat("03", 32))
	_, ok = readBaseLayers(state, more) // the layer count does not fit
	is.True(!ok)
	is.NoErr(os.WriteFile(state, []byte("{"), 0o644))
	_, ok = readBaseLayers(state, base) // damaged
	is.True(!ok)
	_, ok = readBaseLayers("", base)
	is.True(!ok)
}
