package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// fakeProducer follows the producer contract: it writes FAKE_MANIFEST to
// <output root>/<env>/bundle/manifest.json (root: --output, else <template dir>/.esb) and counts
// its runs in FAKE_RUNS. Its FAKE_* variables come on its command line (see bundler).
const fakeProducer = `#!/bin/sh
set -eu
template= env= output=
while [ $# -gt 0 ]; do
	case "$1" in
	deploy|--build-only|--bundle-manifest) shift ;;
	--template) template=$2; shift 2 ;;
	--env) env=$2; shift 2 ;;
	--mode) [ "$2" = docker ] || { echo "bad mode $2" >&2; exit 2; }; shift 2 ;;
	--output) output=$2; shift 2 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$template" ] && [ -n "$env" ] || { echo "missing --template or --env" >&2; exit 2; }
[ -n "$output" ] || output="$(dirname "$template")/.esb"
echo run >>"$FAKE_RUNS"
[ "${FAKE_FAIL:-}" = 1 ] && { echo "producer failed on purpose" >&2; exit 3; }
mkdir -p "$output/$env/bundle"
printf '%s\n' "$FAKE_MANIFEST" >"$output/$env/bundle/manifest.json"
`

type project struct {
	dir, buildDir, runs string
	environ             []string
	manifest            manifest.Manifest
	ids                 map[string]string
	service             string // the web service's image (local, FROM scratch), a key of ids
	external            string
}

// newProject lays out a project with certificates (including the CA key the bundle must leave
// out), a compose file, a config dir and the fake producer; builds a function and a service
// image FROM scratch; and pushes an external image to an in-process registry.
func newProject(t *testing.T, e enginetest.Engine, api client.APIClient, dotEnv string) *project {
	t.Helper()
	is := is.New(t)
	p := &project{dir: t.TempDir()}
	p.buildDir = filepath.Join(p.dir, "build")
	p.runs = filepath.Join(p.dir, "producer-runs")
	p.write(t, "stack/template.yaml", "Resources: {}\n")
	p.write(t, "stack/src/app.py", "def handler(e, c): return e\n")
	p.write(t, "docker-compose.yml", "services:\n  web:\n    image: pipelinetest-web:1\n")
	p.write(t, "config/app.conf", "level=info\n")
	p.writeMode(t, "fake-producer.sh", fakeProducer, 0o755)
	if dotEnv != "" {
		p.write(t, ".env", dotEnv)
	}
	_, err := certs.Generate(filepath.Join(p.dir, ".esb", "certs"), certs.GenerateOptions{Hosts: []string{"web"}})
	is.NoErr(err)

	suffix := fmt.Sprint(time.Now().UnixNano())
	fn := "pipelinetest-fn-" + suffix + ":latest"
	svc := "pipelinetest-web-" + suffix + ":1"
	p.service = svc
	p.ids = map[string]string{
		fn:  enginetest.ScratchImage(t, api, fn, map[string][]byte{"handler": []byte("fn " + suffix)}),
		svc: enginetest.ScratchImage(t, api, svc, map[string][]byte{"web": []byte("web " + suffix)}),
	}
	host := e.Registry(t)
	p.external = enginetest.PushRandom(t, host, "pipelinetest/logs", "1.0", 2, 1024)
	enginetest.Cleanup(t, api, p.external)

	p.manifest = manifest.Manifest{
		SchemaVersion: manifest.SchemaSingle,
		Template:      &manifest.Template{Path: "stack/template.yaml", SHA256: "abc"},
		Build:         manifest.Build{Project: "esb-default", Env: "default", Mode: "docker", ImagePrefix: "esb", ImageTag: "latest"},
		Images: []manifest.Image{
			{Name: fn, Digest: p.ids[fn], Kind: manifest.KindFunction, Source: "sam"},
			{Name: svc, Digest: p.ids[svc], Kind: manifest.KindService, Source: "internal"},
			{Name: p.external, Kind: manifest.KindExternal, Source: "compose"},
		},
	}
	data, err := json.Marshal(p.manifest)
	is.NoErr(err)
	p.environ = []string{
		"TEMPLATE=stack/template.yaml",
		"FAKE_MANIFEST=" + string(data),
		"FAKE_RUNS=" + p.runs,
		"BUNDLE_TAG=pipelinetest-bundle-" + suffix + ":latest",
		"DIND_BASE_IMAGE=" + testBaseImage(t, e),
		"RUN_UID=1234",
		"RUN_GID=2345",
	}
	return p
}

// write writes a file of the project (rel to its directory), making the directories it needs.
func (p *project) write(t *testing.T, rel, content string) {
	t.Helper()
	p.writeMode(t, rel, content, 0o644)
}

func (p *project) writeMode(t *testing.T, rel, content string, mode os.FileMode) {
	t.Helper()
	writeFile(t, filepath.Join(p.dir, rel), content, mode)
}

// bundler configures a Bundler for the project from its settings and extra ones (later win).
// The fake producer's FAKE_* settings become part of PRODUCER, through env(1), rather than of
// the process environment: no test changes what the whole test binary shares.
func (p *project) bundler(t *testing.T, api client.APIClient, extra ...string) *Bundler {
	t.Helper()
	var settings, fake []string
	for _, kv := range append(append([]string{}, p.environ...), extra...) {
		if strings.HasPrefix(kv, "FAKE_") {
			fake = append(fake, "'"+kv+"'") // JSON holds double quotes, never single ones
			continue
		}
		settings = append(settings, kv)
	}
	producer := "env " + strings.Join(fake, " ") + " sh " + filepath.Join(p.dir, "fake-producer.sh")
	cfg, err := config.Load(append(settings, "PRODUCER="+producer), p.dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Bundler{Config: cfg, Docker: api, Log: testLog{t}}
}

// errHas fails unless err holds every one of wants, and shows err when it does not.
func errHas(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error holding %q, got none", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not hold %q", err, w)
		}
	}
}

func (p *project) producerRuns() int {
	data, _ := os.ReadFile(p.runs)
	return strings.Count(string(data), "run")
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runAll runs every stage, and removes the bundle image it built when the test ends (by ID: a
// later build of the same tag would leave it dangling).
func runAll(t *testing.T, ctx context.Context, b *Bundler) error {
	t.Helper()
	if err := b.RunAll(ctx); err != nil {
		return err
	}
	ids, _, err := engine.ImageIDs(ctx, b.Docker, []string{b.Config.BundleTag})
	if err != nil {
		return err
	}
	if id := ids[b.Config.BundleTag]; id != "" {
		enginetest.Cleanup(t, b.Docker, id)
	}
	return nil
}

func TestPipelineBuildsBundleThenSkipsEverything(t *testing.T) {
	enginetest.Each(t, pipelineBuildsBundleThenSkipsEverythingOn)
}

func pipelineBuildsBundleThenSkipsEverythingOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	counting := enginetest.NewCounting(api)
	b := p.bundler(t, counting)
	enginetest.Cleanup(t, api, b.Config.BundleTag)

	// The Image stage loads the bundle instead of building it, on every store; on the
	// containerd store it reads the base's manifest from one save of it (once per base).
	builds, baseSaves := int64(0), int64(0)
	if e.Containerd() {
		baseSaves = 1
	}
	is.NoErr(runAll(t, ctx, b))
	is.Equal(p.producerRuns(), 1)
	is.Equal(counting.Count("ImagePull"), int64(1)) // the external image only
	is.Equal(counting.Count("ImageSave"), 1+baseSaves)
	is.Equal(counting.Count("ImageBuild"), builds)
	is.Equal(counting.Count("Info"), int64(1)) // the engine's image store, asked once per run

	// The merged manifest now knows the pulled image's ID.
	merged, err := manifest.Read(b.Config.MergedManifestPath())
	is.NoErr(err)
	is.Equal(merged.SchemaVersion, manifest.SchemaMerged)
	is.Equal(len(merged.Images), 3)
	for _, img := range merged.Images {
		is.True(strings.HasPrefix(img.Digest, "sha256:")) // every digest known after Pull
	}

	// The saved set holds every image, each layer file in the store.
	set, err := layerstore.ReadSet(b.setPath())
	is.NoErr(err)
	is.Equal(len(set.Images), len(merged.Images))
	for i, img := range merged.Images {
		is.Equal(set.Images[i].Name, img.Name) // saved in manifest order
		is.Equal(set.Images[i].ID, img.Digest)
		is.NoErr(img.Check(manifest.Seen{ID: set.Images[i].ID, Config: set.Images[i].Config, DiffIDs: set.Images[i].DiffIDs}))
	}
	store, err := layerstore.Open(b.storeDir())
	is.NoErr(err)
	is.True(store.CompleteSet(set))

	// The bundle's files.
	files := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app", "/root/.esb/certs", "/images")
	for _, name := range bundleimage.Files(set) {
		_, ok := files["/images/"+name]
		is.True(ok) // the docker-save directory is complete
	}
	is.True(files["/app/compose.yml"].Content != "")
	is.Equal(files["/app/config/app.conf"].Content, "level=info\n")
	manifestInBundle := files["/app/bundle/manifest.json"]
	var inBundle manifest.Manifest
	is.NoErr(json.Unmarshal([]byte(manifestInBundle.Content), &inBundle))
	is.Equal(inBundle.Names(), merged.Names())
	images := files["/app/bundle/images.txt"].Content
	for i, img := range inBundle.Images {
		is.Equal(img.Config, set.Images[i].Config) // the bundle's manifest carries each image's identity
		is.Equal(img.DiffIDs, set.Images[i].DiffIDs)
		line := img.Config + " " + img.Name + " " + strings.Join(img.DiffIDs, ",") + "\n"
		is.True(strings.Contains(images, line)) // images.txt lists each image by config digest and layers
	}
	env := files["/app/.env"]
	is.Equal(env.Mode.Perm()&0o077, os.FileMode(0)) // .env not readable by others
	vars, err := config.ParseEnv(env.Content)
	is.NoErr(err)
	is.Equal(vars["ENV"], "default")
	is.Equal(vars["CERT_DIR"], "/root/.esb/certs")
	is.True(len(vars["RUSTFS_ACCESS_KEY"]) >= 20) // generated, random
	is.True(len(vars["RUSTFS_SECRET_KEY"]) >= 20)
	is.True(vars["RUSTFS_ACCESS_KEY"] != vars["RUSTFS_SECRET_KEY"])
	for _, name := range []string{"rootCA.crt", "server.crt", "server.key"} {
		f, ok := files["/root/.esb/certs/"+name]
		is.True(ok) // certificate bundled
		is.Equal(f.UID, 1234)
		is.Equal(f.GID, 2345)
	}
	_, hasCAKey := files["/root/.esb/certs/rootCA.key"]
	is.True(!hasCAKey) // the CA private key never enters the bundle

	// A dry run now says every stage would skip, and never calls Docker.
	counting.Reset()
	var plan bytes.Buffer
	is.NoErr(p.bundler(t, counting, "DRYRUN=1").PrintPlan(&plan))
	is.Equal(counting.Calls.Load(), int64(0))
	for _, want := range []string{"dry run", "certs     would check", "deploy    " + filepath.Join(p.dir, "stack/template.yaml") + ": would skip", "manifest  would skip", "pull      would pull those of 1 external images", "save      would skip if the daemon's image IDs", "bundle tag       " + b.Config.BundleTag, "owner 1234:2345"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan.String())
		}
	}

	// Second run: nothing changed, so no producer run and no pull, save or build.
	counting.Reset()
	b2 := p.bundler(t, counting)
	is.NoErr(runAll(t, ctx, b2))
	is.Equal(p.producerRuns(), 1)
	for _, heavy := range []string{"ImagePull", "ImageSave", "ImageBuild", "ImageLoad", "ImageImport", "ContainerCreate"} {
		if n := counting.Count(heavy); n != 0 {
			t.Errorf("second run called %s %d times (calls: %v)", heavy, n, counting.Counts())
		}
	}
	is.Equal(counting.Count("Info"), int64(1))
	// The generated .env kept its keys, or the bundle would rebuild every time.
	files2 := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app/.env")
	is.Equal(files2["/app/.env"].Content, env.Content)

	// A code change reruns the producer; when it produces the same images nothing after it
	// redoes any work.
	future := time.Now().Add(2 * time.Second)
	is.NoErr(os.Chtimes(filepath.Join(p.dir, "stack/src/app.py"), future, future))
	counting.Reset()
	is.NoErr(runAll(t, ctx, p.bundler(t, counting)))
	is.Equal(p.producerRuns(), 2)
	is.Equal(counting.Count("ImageSave"), int64(0))
	is.Equal(counting.Count("ImageBuild"), int64(0))

	// A rebuilt image (new ID in the producer's manifest) is saved and bundled again.
	fn := p.manifest.Images[0].Name
	newID := enginetest.ScratchImage(t, api, fn, map[string][]byte{"handler": []byte("changed")})
	p.manifest.Images[0].Digest = newID
	data, err := json.Marshal(p.manifest)
	is.NoErr(err)
	later := future.Add(2 * time.Second)
	is.NoErr(os.Chtimes(filepath.Join(p.dir, "stack/src/app.py"), later, later))
	counting.Reset()
	is.NoErr(runAll(t, ctx, p.bundler(t, counting, "FAKE_MANIFEST="+string(data))))
	is.Equal(p.producerRuns(), 3)
	is.Equal(counting.Count("ImageSave"), int64(1))
	is.Equal(counting.Count("ImageBuild"), builds)
	files3 := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app/bundle/images.txt")
	newSet, err := layerstore.ReadSet(b.setPath())
	is.NoErr(err)
	var rebuilt layerstore.Image
	for _, img := range newSet.Images {
		if img.Name == fn {
			rebuilt = img
		}
	}
	is.Equal(rebuilt.ID, newID)
	is.True(strings.Contains(files3["/app/bundle/images.txt"].Content, rebuilt.Config+" "+fn+" ")) // the bundle carries the new image
}

func TestPipelineDotEnvFromProject(t *testing.T) { enginetest.Each(t, pipelineDotEnvFromProjectOn) }

func pipelineDotEnvFromProjectOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "ENV=default\nAPI_KEY=abc\n")
	b := p.bundler(t, api)
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	is.NoErr(runAll(t, ctx, b))
	files := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app/.env")
	is.Equal(files["/app/.env"].Content, "ENV=default\nAPI_KEY=abc\nCERT_DIR=/root/.esb/certs\n")
}

func TestPipelineErrors(t *testing.T) { enginetest.Each(t, pipelineErrorsOn) }

func pipelineErrorsOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx := context.Background()

	t.Run("producer fails", func(t *testing.T) {
		is := is.New(t)
		p := newProject(t, e, api, "")
		b := p.bundler(t, api, "FAKE_FAIL=1")
		errHas(t, b.Deploy(ctx), "template.yaml") // names the template
		_, statErr := os.Stat(b.Config.Templates[0].ManifestPath)
		is.True(errors.Is(statErr, os.ErrNotExist)) // no manifest that looks fresh
	})

	t.Run("producer writes elsewhere", func(t *testing.T) {
		p := newProject(t, e, api, "")
		b := p.bundler(t, api, "BUNDLE_MANIFEST_PATH=nowhere/manifest.json")
		errHas(t, b.Deploy(ctx), filepath.Join(p.dir, "nowhere", "manifest.json")) // names the path
	})

	t.Run("missing function image says which stage builds it", func(t *testing.T) {
		is := is.New(t)
		p := newProject(t, e, api, "")
		b := p.bundler(t, api)
		is.NoErr(b.Deploy(ctx))
		is.NoErr(b.Manifest(ctx))
		fn := p.manifest.Images[0].Name
		is.NoErr(engine.Remove(ctx, api, fn))
		errHas(t, b.Pull(ctx), fn, "deploy stage")
	})

	t.Run("stale image stops Save", func(t *testing.T) {
		is := is.New(t)
		p := newProject(t, e, api, "")
		b := p.bundler(t, api)
		is.NoErr(b.Deploy(ctx))
		is.NoErr(b.Manifest(ctx))
		is.NoErr(b.Pull(ctx))
		svc := p.manifest.Images[1].Name
		newID := enginetest.ScratchImage(t, api, svc, map[string][]byte{"web": []byte("changed")})
		errHas(t, b.Save(ctx), svc, newID, p.ids[svc])
		_, statErr := os.Stat(b.setPath())
		is.True(errors.Is(statErr, os.ErrNotExist)) // nothing that looks saved
	})

	t.Run("missing root CA", func(t *testing.T) {
		is := is.New(t)
		p := newProject(t, e, api, "")
		b := p.bundler(t, api, "CERT_DIR=elsewhere")
		err := b.Certs(ctx)
		is.True(errors.Is(err, certs.ErrRootCANotFound))
		errHas(t, err, "Root CA not found at "+filepath.Join(p.dir, "elsewhere", certs.RootCACert), "CERT_DIR")
	})
}
