package buildkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestImageCache(t *testing.T) {
	tests := []struct {
		setting  string
		from, to []CacheEntry
		err      string
	}{
		{setting: ""},
		{
			setting: "type=local,dest=/cache",
			from:    []CacheEntry{{Type: "local", Attrs: map[string]string{"src": "/cache/esb-fn-latest"}}},
			to:      []CacheEntry{{Type: "local", Attrs: map[string]string{"dest": "/cache/esb-fn-latest", "mode": "max"}}},
		},
		{
			setting: "type=local,dest=/cache,compression=zstd",
			from:    []CacheEntry{{Type: "local", Attrs: map[string]string{"src": "/cache/esb-fn-latest"}}},
			to:      []CacheEntry{{Type: "local", Attrs: map[string]string{"dest": "/cache/esb-fn-latest", "mode": "max", "compression": "zstd"}}},
		},
		{
			setting: "type=registry,ref=registry.local:5000/cache/esb:main",
			from:    []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": "registry.local:5000/cache/esb:main-esb-fn-latest"}}},
			to:      []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": "registry.local:5000/cache/esb:main-esb-fn-latest", "mode": "max"}}},
		},
		{
			setting: "type=registry,ref=registry.local:5000/cache/esb",
			from:    []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": "registry.local:5000/cache/esb:cache-esb-fn-latest"}}},
			to:      []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": "registry.local:5000/cache/esb:cache-esb-fn-latest", "mode": "max"}}},
		},
		{setting: "type=local,dest=relative", err: "an absolute directory"},
		{setting: "type=gha", err: `type "gha" is not local or registry`},
		{setting: "dest=/cache", err: "names no type"},
		{setting: "type=local,/cache", err: "each field must be key=value"},
		{setting: "type=registry,ref=no spaces", err: "ref must be an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			is := is.New(t)
			from, to, err := ImageCache(tt.setting, "esb-fn:latest")
			if tt.err != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.err))
				is.True(strings.HasPrefix(err.Error(), "BUILD_CACHE=")) // names the variable
				return
			}
			is.NoErr(err)
			is.Equal(from, tt.from)
			is.Equal(to, tt.to)
		})
	}
}

func TestCacheKey(t *testing.T) {
	is := is.New(t)
	is.Equal(cacheKey("registry.local:5000/Team/fn:v1.2"), "registry.local-5000-team-fn-v1.2")
}

func TestShareLocalBlobs(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, cacheKey("fn-a:latest")), filepath.Join(dir, cacheKey("fn-b:latest"))
	for _, dest := range []string{a, b, a} { // twice: the next run finds the link
		is.NoErr(ShareLocalBlobs(dest))
	}
	// A blob one image's export writes is the other's too.
	is.NoErr(os.WriteFile(filepath.Join(a, "blobs", "sha256", "abc"), []byte("layer"), 0o444))
	got, err := os.ReadFile(filepath.Join(b, "blobs", "sha256", "abc"))
	is.NoErr(err)
	is.Equal(string(got), "layer")
	entries, err := os.ReadDir(filepath.Join(dir, sharedBlobs, "sha256"))
	is.NoErr(err)
	is.Equal(len(entries), 1) // stored once

	// An older cache with blobs of its own keeps them.
	old := filepath.Join(dir, "old-latest")
	is.NoErr(os.MkdirAll(filepath.Join(old, "blobs", "sha256"), 0o755))
	is.NoErr(ShareLocalBlobs(old))
	fi, err := os.Lstat(filepath.Join(old, "blobs"))
	is.NoErr(err)
	is.True(fi.IsDir())
}

// TestLocalCaches: the image caches of a local setting are DIR's directories but the build
// cache's own (_blobs, _images, _results); none for a registry cache or a DIR not made yet.
func TestLocalCaches(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	setting := "type=local,dest=" + dir
	got, err := LocalCaches(setting)
	is.NoErr(err)
	is.Equal(len(got), 0)
	for _, d := range []string{cacheKey("fn-a:latest"), cacheKey("fn-b:latest"), sharedBlobs, keptImagesDir, keptResultsDir} {
		is.NoErr(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	is.NoErr(os.WriteFile(filepath.Join(dir, "stray-file"), nil, 0o644))
	got, err = LocalCaches(setting)
	is.NoErr(err)
	is.Equal(got, []string{filepath.Join(dir, "fn-a-latest"), filepath.Join(dir, "fn-b-latest")})
	got, err = LocalCaches("type=local,dest=" + filepath.Join(dir, "none"))
	is.NoErr(err)
	is.Equal(len(got), 0)
	got, err = LocalCaches("type=registry,ref=r.local/cache")
	is.NoErr(err)
	is.Equal(len(got), 0)
}

// TestClearIngests: a cache directory's ingest/ and ingest-locks/ are emptied, kept; its index
// and blobs stay; a cache without them is fine.
func TestClearIngests(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	for _, f := range []string{"ingest/abc/data", "ingest/abc/ref", "ingest-locks/1", "ingest-locks/2", "index.json", "oci-layout"} {
		is.NoErr(os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755))
		is.NoErr(os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	n, err := ClearIngests(dir)
	is.NoErr(err)
	is.Equal(n, 3) // ingest/abc, two locks
	for _, sub := range []string{"ingest", "ingest-locks"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		is.NoErr(err)
		is.Equal(len(entries), 0)
	}
	_, err = os.Stat(filepath.Join(dir, "index.json"))
	is.NoErr(err)
	n, err = ClearIngests(t.TempDir())
	is.NoErr(err)
	is.Equal(n, 0)
}
