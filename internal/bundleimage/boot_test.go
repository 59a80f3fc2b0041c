package bundleimage

import (
	"path"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

func TestBoot(t *testing.T) {
	gateway := layerstore.Image{Name: "esb-gateway:latest", ID: "sha256:ig", Config: "sha256:cg", DiffIDs: []string{"sha256:base", "sha256:lg"}}
	echo := layerstore.Image{Name: "127.0.0.1:5010/esb-echo:latest", ID: "sha256:ie", Config: "sha256:ce", DiffIDs: []string{"sha256:base", "sha256:le"}}
	hello := layerstore.Image{Name: "127.0.0.1:5010/esb-hello", ID: "sha256:ih", Config: "sha256:ch", DiffIDs: []string{"sha256:base", "sha256:lh"}}
	set := layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{echo, gateway, hello}}
	served := []string{"127.0.0.1:5010/esb-echo:latest", "127.0.0.1:5010/esb-hello:latest"}
	names := func(s layerstore.Set) []string {
		var out []string
		for _, img := range s.Images {
			out = append(out, img.Name)
		}
		return out
	}
	cases := []struct {
		name      string
		served    []string
		used      []string
		wantBoot  []string
		wantLater []string
	}{
		{name: "nothing served: all at boot", used: []string{"esb-gateway"}, wantBoot: []string{echo.Name, gateway.Name, hello.Name}},
		{name: "functions served", served: served, used: []string{"esb-gateway:latest"}, wantBoot: []string{gateway.Name}, wantLater: []string{echo.Name, hello.Name}},
		// compose names hello without its tag, as the set does: the same image.
		{name: "a served image compose runs is loaded", served: served, used: []string{"docker.io/library/esb-gateway", "127.0.0.1:5010/esb-hello"}, wantBoot: []string{gateway.Name, hello.Name}, wantLater: []string{echo.Name}},
		{name: "another tag of a used image is not that image", served: served, used: []string{"127.0.0.1:5010/esb-echo:v2"}, wantBoot: []string{gateway.Name}, wantLater: []string{echo.Name, hello.Name}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			boot, later := Boot(set, tc.served, tc.used)
			is.Equal(names(boot), tc.wantBoot)
			is.Equal(later, tc.wantLater)
			is.Equal(boot.Compression, set.Compression)
		})
	}
}

// The docker-save directory's manifest.json and files.txt list what boot loads; the configs of
// every image are there (the registry serves them), and withLayers every layer file.
func TestContextEntriesBootSubset(t *testing.T) {
	is := is.New(t)
	store, err := layerstore.Open(t.TempDir())
	is.NoErr(err)
	gateway := layerstore.Image{Name: "esb-gateway:latest", ID: "sha256:ig", Config: "sha256:cg", DiffIDs: []string{"sha256:base", "sha256:lg"}}
	echo := layerstore.Image{Name: "127.0.0.1:5010/esb-echo:latest", ID: "sha256:ie", Config: "sha256:ce", DiffIDs: []string{"sha256:base", "sha256:le"}}
	set := layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{echo, gateway}}
	boot, _ := Boot(set, []string{echo.Name}, nil)
	got := map[string][]byte{}
	for _, e := range ContextEntries(set, boot, store, true) {
		got[path.Base(e.Name)] = e.Data
	}
	is.Equal(string(got["manifest.json"]), string(DockerManifest(boot)))
	is.Equal(string(got["files.txt"]), "base.tar.gz\ncg.json\nlg.tar.gz\nmanifest.json\n")
	for _, f := range []string{"ce.json", "cg.json", "base.tar.gz", "le.tar.gz", "lg.tar.gz"} {
		_, ok := got[f]
		is.True(ok) // every config and layer file of the set is in the directory
	}
}
