package registry_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
)

// d is a digest made from a word, for readable tables.
func d(word string) string { return digest.FromString(word).String() }

// storeFiles are file digests for the words' digests: file "<word>" holds content d(word); a
// compressed layer file's own digest is d("file "+word).
func storeFiles(c layerstore.Compression, words ...string) map[string]layerstore.FileDigest {
	files := map[string]layerstore.FileDigest{}
	for _, w := range words {
		own, size := d("file "+w), int64(len(w))*10
		if strings.HasPrefix(w, "config") {
			own = d(w)
		} else if c == layerstore.None { // the file is the tar: img's size and the diffID
			own, size = d(w), int64(len(w))*100
		}
		files[d(w)] = layerstore.FileDigest{Digest: own, Size: size}
	}
	return files
}

func img(name, config string, layers ...string) layerstore.Image {
	im := layerstore.Image{Name: name, ID: d(config), Config: d(config)}
	for _, l := range layers {
		im.DiffIDs = append(im.DiffIDs, d(l))
		im.Sizes = append(im.Sizes, int64(len(l))*100)
	}
	return im
}

// PlanIndex serves exactly the images whose reference names the address as registry host,
// parsed as Docker parses names (never by string prefix), each under its repository and tag,
// with manifests whose blobs are the stored files (or the diffIDs when uncompressed).
func TestPlanIndexServes(t *testing.T) {
	const addr = "127.0.0.1:5010"
	tests := []struct {
		name   string
		images []string
		want   []string // served: repository:tag
	}{
		{"function images on the address", []string{addr + "/esb-a:latest", addr + "/esb-b:v1"}, []string{"esb-a:latest", "esb-b:v1"}},
		{"no tag means latest", []string{addr + "/esb-a"}, []string{"esb-a:latest"}},
		{"nested repository", []string{addr + "/team/esb-a:1"}, []string{"team/esb-a:1"}},
		{"docker.io images are not served", []string{"esb-gateway:latest", "docker.io/library/redis:7", addr + "/esb-a:1"}, []string{"esb-a:1"}},
		{"another port is another registry", []string{"127.0.0.1:50100/esb-a:1", "127.0.0.1:501/esb-a:1"}, nil},
		{"another host name for the same place is another registry", []string{"localhost:5010/esb-a:1"}, nil},
		{"a path that only starts like the address", []string{"registry.example/127.0.0.1-5010/esb-a:1"}, nil},
		{"a name listed twice is served once", []string{addr + "/esb-a:1", addr + "/esb-a:1"}, []string{"esb-a:1"}},
		{"one image under two tags", []string{addr + "/esb-a:1", addr + "/esb-a:2"}, []string{"esb-a:1", "esb-a:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			set := layerstore.Set{Compression: layerstore.Zstd}
			for _, n := range tt.images {
				set.Images = append(set.Images, img(n, "config", "base", "top"))
			}
			idx, err := registry.PlanIndex(addr, set, storeFiles(layerstore.Zstd, "config", "base", "top"))
			is.NoErr(err)
			is.Equal(idx.Address, addr)
			var got []string
			for _, im := range idx.Images {
				got = append(got, im.Repository+":"+im.Tag)
				is.Equal(im.Name, addr+"/"+im.Repository+":"+im.Tag)
			}
			is.Equal(got, tt.want)
		})
	}
}

func TestPlanIndexRefuses(t *testing.T) {
	const addr = "127.0.0.1:5010"
	tests := []struct {
		name  string
		image layerstore.Image
		files map[string]layerstore.FileDigest
		want  string
	}{
		{"named by digest", img(addr+"/esb-a@"+d("m"), "config", "base"), storeFiles(layerstore.Zstd, "config", "base"), "named by digest"},
		{"no layer sizes (an older store)", func() layerstore.Image { i := img(addr+"/esb-a:1", "config", "base"); i.Sizes = nil; return i }(), storeFiles(layerstore.Zstd, "config", "base"), "run the save stage again"},
		{"no file digest for a layer", img(addr+"/esb-a:1", "config", "base", "top"), storeFiles(layerstore.Zstd, "config", "base"), "no file digest for its layer " + d("top")},
		{"no file digest for the config", img(addr+"/esb-a:1", "config", "base"), storeFiles(layerstore.Zstd, "base"), "no file digest for its config"},
		{"an invalid name", img("Esb-A:1", "config", "base"), storeFiles(layerstore.Zstd, "config", "base"), "image name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			_, err := registry.PlanIndex(addr, layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{tt.image}}, tt.files)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.want))
		})
	}
}

// The manifests: layers as stored (media type by compression, the file's digest and size) or
// decompressed (the diffID and uncompressed size); shared layers are the same blob in both
// images; the bytes are the same at every call, and are exactly the OCI manifest.
func TestPlanIndexManifests(t *testing.T) {
	const addr = "127.0.0.1:5010"
	mediaTypes := map[layerstore.Compression]string{
		layerstore.Zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
		layerstore.Gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
		layerstore.None: "application/vnd.oci.image.layer.v1.tar",
	}
	for c, mt := range mediaTypes {
		t.Run(string(c), func(t *testing.T) {
			is := is.New(t)
			set := layerstore.Set{Compression: c, Images: []layerstore.Image{
				img(addr+"/esb-a:1", "config-a", "base", "a"),
				img(addr+"/esb-b:1", "config-b", "base", "b"),
			}}
			files := storeFiles(c, "config-a", "config-b", "base", "a", "b")
			idx, err := registry.PlanIndex(addr, set, files)
			is.NoErr(err)
			a, b := idx.Images[0], idx.Images[1]
			is.Equal(a.Layers[0], b.Layers[0]) // the shared base: one blob
			is.Equal(a.Layers[0].File, layerstore.LayerFile(d("base"), c))
			is.Equal(a.Config.File, layerstore.ConfigFile(d("config-a")))
			is.Equal(a.Layers[0].Compression, c)

			type desc struct {
				MediaType string `json:"mediaType"`
				Size      int64  `json:"size"`
				Digest    string `json:"digest"`
			}
			type manifest struct {
				SchemaVersion int    `json:"schemaVersion"`
				MediaType     string `json:"mediaType"`
				Config        desc   `json:"config"`
				Layers        []desc `json:"layers"`
			}
			for _, uncompressed := range []bool{false, true} {
				body, digest, err := a.Manifest(uncompressed)
				is.NoErr(err)
				again, digest2, err := a.Manifest(uncompressed)
				is.NoErr(err)
				is.Equal(body, again) // stable bytes…
				is.Equal(digest, digest2)
				want := a.Digest
				if uncompressed {
					want = a.UncompressedDigest
				}
				is.Equal(digest, want) // …recorded in the index
				is.Equal(digest.String(), "sha256:"+strings.TrimPrefix(d(string(body)), "sha256:"))

				var m manifest
				is.NoErr(json.Unmarshal(body, &m))
				wantM := manifest{
					SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json",
					Config: desc{"application/vnd.oci.image.config.v1+json", files[d("config-a")].Size, d("config-a")},
				}
				for i, l := range []string{"base", "a"} {
					if uncompressed {
						wantM.Layers = append(wantM.Layers, desc{"application/vnd.oci.image.layer.v1.tar", set.Images[0].Sizes[i], d(l)})
					} else {
						wantM.Layers = append(wantM.Layers, desc{mt, files[d(l)].Size, files[d(l)].Digest})
					}
				}
				is.Equal(m, wantM)
			}
			if c == layerstore.None {
				is.Equal(a.Digest, a.UncompressedDigest) // nothing to decompress: the same manifest
			} else {
				is.True(a.Digest != a.UncompressedDigest)
			}
		})
	}

	t.Run("exact bytes", func(t *testing.T) {
		is := is.New(t)
		set := layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{img(addr+"/esb-a:1", "config", "base")}}
		idx, err := registry.PlanIndex(addr, set, storeFiles(layerstore.Zstd, "config", "base"))
		is.NoErr(err)
		body, _, err := idx.Images[0].Manifest(false)
		is.NoErr(err)
		is.Equal(string(body), `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":60,"digest":"`+d("config")+`"},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":40,"digest":"`+d("file base")+`"}]}`)
	})
}

// The index survives its file: what ReadIndex gets back serves the same manifests.
func TestIndexFile(t *testing.T) {
	is := is.New(t)
	set := layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{img("127.0.0.1:5010/esb-a:1", "config", "base")}}
	idx, err := registry.PlanIndex("127.0.0.1:5010", set, storeFiles(layerstore.Gzip, "config", "base"))
	is.NoErr(err)
	p := filepath.Join(t.TempDir(), "registry.json")
	is.NoErr(registry.WriteIndex(p, idx))
	back, err := registry.ReadIndex(p)
	is.NoErr(err)
	is.Equal(back, idx)
	_, err = registry.NewHandler(back, t.TempDir(), registry.Options{})
	is.NoErr(err)

	// An index whose recorded digest is not what this version computes is refused.
	back.Images[0].Digest = back.Images[0].UncompressedDigest
	_, err = registry.NewHandler(back, t.TempDir(), registry.Options{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "rebuild the bundle"))
}

// Serves reads the registry host as the engine does; an unset address or a bad name serves nothing.
func TestServes(t *testing.T) {
	tests := []struct {
		address, name string
		want          bool
	}{
		{"127.0.0.1:5010", "127.0.0.1:5010/esb-hello:latest", true},
		{"127.0.0.1:5010", "127.0.0.1:5010/team/esb-hello", true},
		{"127.0.0.1:5010", "esb-hello:latest", false},           // docker.io
		{"127.0.0.1:5010", "127.0.0.1:5011/esb-hello:1", false}, // another port
		{"127.0.0.1:5010", "127.0.0.1:5010/../etc:1", false},    // no image name
		{"", "127.0.0.1:5010/esb-hello:latest", false},          // no registry
	}
	for _, tt := range tests {
		is.New(t).Equal(registry.Serves(tt.address, tt.name), tt.want)
	}
}
