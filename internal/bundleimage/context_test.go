package bundleimage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// PlanContext, without an engine: what compose runs loads at boot, the registry's other images
// are pulled (served.txt), the .env is generated and kept, host paths the bundle cannot carry are
// said, and the layer files are in the context only for the classic builder.
func TestPlanContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compose := write("stack/compose.yml", "services:\n  app:\n    image: app:1\n    volumes: [\"/var/lib/host-data:/data\"]\n")
	certDir := filepath.Join(dir, "certs")
	if _, err := certs.Generate(certDir, certs.GenerateOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := layerstore.Open(filepath.Join(dir, "build", "layers"))
	if err != nil {
		t.Fatal(err)
	}
	fn := "127.0.0.1:5010/fn:1"
	set := layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{
		{Name: "app:1", ID: "sha256:ia", Config: "sha256:ca", DiffIDs: []string{"sha256:base", "sha256:la"}},
		{Name: fn, ID: "sha256:if", Config: "sha256:cf", DiffIDs: []string{"sha256:base", "sha256:lf"}},
	}}
	request := func(withLayers bool, logf func(string, ...any)) ContextRequest {
		return ContextRequest{
			Set: set, Store: store, WithLayers: withLayers,
			Manifest: manifest.Manifest{Build: manifest.Build{Project: "esb"}, Images: []manifest.Image{{Name: "app:1", Digest: "sha256:ia"}, {Name: fn, Digest: "sha256:if"}}},
			Registry: Registry{Served: []string{fn}, Index: []byte("{}\n")},
			DotEnv: buildctx.DotEnvRequest{
				Project: filepath.Join(dir, "stack", ".env"), Kept: filepath.Join(dir, "build", "state", "generated.env"),
				Env: "dev", CertTarget: "/root/.esb/certs", Secret: func() (string, error) { return "k3y", nil },
			},
			ComposeFile: compose, WorkDir: dir, ProjectRoot: dir,
			CertDir: certDir, CertTarget: "/root/.esb/certs", RunUID: 1000, RunGID: 1001, BaseImage: "dind:base",
			Logf: logf,
		}
	}
	tests := []struct {
		name       string
		withLayers bool
		layerFiles []string
	}{
		{"on the layers image", false, nil},
		{"for the classic builder", true, []string{"images/base.tar.gz", "images/la.tar.gz", "images/lf.tar.gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var log strings.Builder
			plan, err := PlanContext(request(tt.withLayers, func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }))
			is.NoErr(err)
			byName := map[string]buildctx.Entry{}
			var layerFiles []string
			for _, e := range plan.Entries {
				byName[e.Name] = e
				if strings.HasSuffix(e.Name, ".tar.gz") {
					layerFiles = append(layerFiles, e.Name)
				}
			}
			is.Equal(layerFiles, tt.layerFiles)                                             // the layers image carries them otherwise
			is.Equal(string(byName["app/bundle/served.txt"].Data), fn+" pull\n")            // served, and compose does not run it
			is.True(strings.Contains(string(byName["images/manifest.json"].Data), "app:1")) // compose runs it: loaded at boot
			is.True(!strings.Contains(string(byName["images/manifest.json"].Data), fn))
			is.Equal(string(byName["app/bundle/registry.json"].Data), "{}\n")
			is.Equal(string(byName["app/.env"].Data), "ENV=dev\nRUSTFS_ACCESS_KEY=k3y\nRUSTFS_SECRET_KEY=k3y\nCERT_DIR=/root/.esb/certs\n")
			is.Equal(byName["certs"].UID, 1000)
			is.True(strings.Contains(log.String(), "warning: ")) // the host path outside the project is said
			is.True(strings.Contains(log.String(), "/var/lib/host-data"))
			is.Equal(plan.Args, map[string]string{"DIND_BASE_IMAGE": "dind:base", "RUN_UID": "1000", "RUN_GID": "1001", "CERT_TARGET": "/root/.esb/certs", "BUNDLE_PROJECT": "esb"})
		})
	}
	t.Run("no compose file", func(t *testing.T) {
		is := is.New(t)
		r := request(false, nil)
		r.ComposeFile = filepath.Join(dir, "missing.yml")
		_, err := PlanContext(r)
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "set COMPOSE_FILE")) // says what to do
	})
}
