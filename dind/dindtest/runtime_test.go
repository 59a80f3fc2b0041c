package dindtest_test

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

const (
	project    = "dindtest"
	certTarget = "/root/.esb/certs"
	runUID     = 1000
	greeting   = "hello from the dindtest bundle"
	serverCert = "-----BEGIN CERTIFICATE-----\ndindtest server certificate\n-----END CERTIFICATE-----\n"
	configText = "config from CONFIG_DIR\n"
	entrypoint = dind.EntrypointPath
)

// The compose file of the bundled stack: an obsolete version line, .env interpolation (GREETING, CERT_DIR), a relative
// bind of the config directory, a published port and a healthcheck. IMAGE is the echo image's name (composeFor).
const composeYAML = `version: "3.8" # obsolete: compose warns on stderr, which must not confuse the healthcheck
services:
  echo:
    image: IMAGE
    ports:
      - "8080:8080"
    environment:
      GREETING: ${GREETING:?GREETING must come from .env}
    volumes:
      - ${CERT_DIR}:/certs:ro
      - ./config:/config:ro
    healthcheck:
      test: ["CMD", "/app", "-check"]
      interval: 1s
      timeout: 2s
      retries: 30
`

func composeFor(image string) string { return strings.Replace(composeYAML, "IMAGE", image, 1) }

// serviceImages are the images a test bundles, built on the outer engine under its own prefix
// (tests sharing an engine never remove each other's): echo serves HTTP; other has other
// layers; relabeled has echo's files (the same layers) and another config.
type serviceImages struct {
	echo, other, relabeled       string
	echoID, otherID, relabeledID string
}

func buildServiceImages(t *testing.T, api client.APIClient, prefix string) serviceImages {
	t.Helper()
	im := serviceImages{echo: prefix + "-echo:latest", other: prefix + "-other:latest", relabeled: prefix + "-relabeled:latest"}
	im.echoID = enginetest.ScratchImage(t, api, im.echo, nil, enginetest.GoBinary("./testdata/echo"))
	im.otherID = enginetest.ScratchImage(t, api, im.other, map[string][]byte{"other.txt": []byte("other\n")})
	im.relabeledID = enginetest.ScratchImage(t, api, im.relabeled, nil, enginetest.GoBinary("./testdata/echo"),
		enginetest.Labels(map[string]string{"dindtest": "relabeled"}))
	return im
}

// okSpec bundles the echo image alone, as the stack runs it.
func (im serviceImages) okSpec(compression string) bundleSpec {
	return bundleSpec{
		service:     im.echo,
		save:        []string{im.echo},
		listed:      []listedImage{{im.echo, im.echo}},
		compression: compression,
	}
}

// TestBundleRuntime builds the DinD base, bundles a one-service stack by hand (following the
// build context layout), and runs the bundle for real.
func TestBundleRuntime(t *testing.T) { enginetest.Each(t, bundleRuntimeOn) }

func bundleRuntimeOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	base := ensureBase(t, ctx, e, "")
	im := buildServiceImages(t, api, "dindtest")
	// Engine 20.10 inside cannot load zstd: exercises the decompression.
	okImage := buildBundle(t, ctx, api, enginetest.Unique("dindtest-bundle:ok"), base, im.okSpec("zst"))

	t.Run("serves, restarts without reloading, stops cleanly", func(t *testing.T) {
		is := is.New(t)
		img := okImage
		start := time.Now()
		c := dindtest.Run(t, api, engine.RunSpec{
			Name: "dindtest-run-ok", Image: img, Volume: "dindtest-vol-ok", Ports: []string{"8080/tcp"},
		})
		t.Logf("running with mode %s", c.Mode)

		addr := hostAddr(t, ctx, e, api, c.ID)
		body := waitHTTP(t, ctx, api, c.ID, "http://"+addr+"/")
		firstBoot := time.Since(start)
		is.Equal(body, greeting) // the .env value reached the service through compose
		is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+addr+"/cert"), serverCert)
		is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+addr+"/config"), configText)
		hctx, hcancel := context.WithTimeout(ctx, 90*time.Second)
		is.NoErr(engine.WaitHealthy(hctx, api, c.ID))
		hcancel()
		logs, err := engine.Logs(ctx, api, c.ID)
		is.NoErr(err)
		is.True(strings.Contains(logs, "images verified"))
		t.Logf("first boot: service answered after %s", firstBoot.Round(100*time.Millisecond))

		// The entrypoint re-runs itself under tini, which reaps the engine's orphaned shims.
		top, err := api.ContainerTop(ctx, c.ID, nil)
		is.NoErr(err)
		is.True(len(top.Processes) > 0)
		is.True(strings.Contains(strings.Join(top.Processes[0], " "), "docker-init -- "+entrypoint))

		// The healthcheck follows the services: a stopped service makes the bundle unhealthy.
		out, code, err := engine.Exec(ctx, api, c.ID, entrypoint, "health")
		is.NoErr(err)
		is.Equal(code, 0)
		is.Equal(strings.TrimSpace(out), "all services running")
		_, code, err = engine.Exec(ctx, api, c.ID, "docker", "stop", "dindtest-echo-1")
		is.NoErr(err)
		is.Equal(code, 0)
		out, code, err = engine.Exec(ctx, api, c.ID, entrypoint, "health")
		is.NoErr(err)
		is.Equal(code, 1)
		is.True(strings.HasPrefix(out, "echo: exited")) // names the service and its state
		_, code, err = engine.Exec(ctx, api, c.ID, "docker", "start", "dindtest-echo-1")
		is.NoErr(err)
		is.Equal(code, 0)

		// The image's secrets and certificates, as the bundle ships them.
		env := statPath(t, ctx, api, c.ID, "/app/.env")
		is.Equal(env.Mode&0o077, int64(0)) // .env readable by its owner only
		is.Equal(env.Uid, 0)
		certs := statPath(t, ctx, api, c.ID, certTarget+"/server.crt")
		is.Equal(certs.Uid, runUID) // certificates owned by RUN_UID:RUN_GID
		is.Equal(certs.Gid, runUID)
		is.Equal(statPath(t, ctx, api, c.ID, certTarget).Uid, runUID)

		restartSkipsLoad(t, ctx, e, api, c.ID)
		took, logs := stopsCleanly(t, ctx, api, c.ID)
		t.Logf("docker stop took %s; container log:\n%s", took.Round(100*time.Millisecond), logs)

		// No CA private key anywhere in the image's layers.
		is.Equal(filesNamed(t, ctx, api, img, "rootCA.key"), []string(nil))
	})

	t.Run("dockerd failing to start stops the container with its log", func(t *testing.T) {
		is := is.New(t)
		logs := failedBoot(t, ctx, api, engine.RunSpec{
			Name: "dindtest-run-baddockerd", Image: okImage, Volume: "dindtest-vol-baddockerd",
			Env: []string{"DOCKERD_ARGS=--no-such-dockerd-flag"},
		}, 2*time.Minute)
		is.True(strings.Contains(logs, "dockerd exited during start"))
		is.True(strings.Contains(logs, "last 200 lines of the dockerd log"))
		is.True(strings.Contains(logs, "no-such-dockerd-flag")) // dockerd's own complaint
	})

	t.Run("missing or different image fails naming each", func(t *testing.T) {
		refusesWrongImages(t, ctx, api, base, im, "dindtest", nil)
	})

	t.Run("a damaged layer names its image and says to rebuild", func(t *testing.T) {
		is := is.New(t)
		spec := im.okSpec("gz")
		spec.damage = true
		img := buildBundle(t, ctx, api, enginetest.Unique("dindtest-bundle:damaged"), base, spec)
		logs := failedBoot(t, ctx, api, engine.RunSpec{Name: "dindtest-run-damaged", Image: img, Volume: "dindtest-vol-damaged"}, 3*time.Minute)
		is.True(strings.Contains(logs, "of image(s) dindtest-echo:latest does not decompress to its digest")) // names the image
		is.True(strings.Contains(logs, "rebuild the bundle"))                                                 // says what to do
		is.True(!strings.Contains(logs, "starting stack"))                                                    // nothing ran
	})

	t.Run("CA private key in the context fails the build", func(t *testing.T) {
		is := is.New(t)
		var out bytes.Buffer
		spec := im.okSpec("")
		spec.certExtra = map[string]string{"rootCA.key": "-----BEGIN PRIVATE KEY-----\n"}
		_, err := build(ctx, api, enginetest.Unique("dindtest-bundle:key"), base, spec, &out)
		enginetest.Cleanup(t, api, enginetest.Unique("dindtest-bundle:key"))
		removeIntermediates(t, api, out.String())
		is.True(err != nil)
		is.True(strings.Contains(out.String(), "CA private key /root/.esb/certs/rootCA.key must not be in the bundle"))
	})
}

// ensureBase builds the DinD base of Debian suite ("" for the default) on the host engine (once
// per machine; it stays as a cache, as after `mage dindbase`) and copies it onto e.
func ensureBase(t *testing.T, ctx context.Context, e enginetest.Engine, suite string) string {
	t.Helper()
	start := time.Now()
	opts := base.Options{Suite: suite, Progress: logWriter{t}}
	built, err := base.Ensure(ctx, enginetest.Client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	tag := base.DefaultTag
	if suite != "" {
		tag = base.TagFor(suite)
	}
	if built {
		t.Logf("built the DinD base %s in %s", tag, time.Since(start).Round(time.Second))
	}
	e.FromHost(t, tag)
	return tag
}

// restartSkipsLoad restarts the running bundle id with its volume: the images are there, so
// the load is skipped and the service answers again. It returns how long that took.
func restartSkipsLoad(t *testing.T, ctx context.Context, e enginetest.Engine, api client.APIClient, id string) time.Duration {
	t.Helper()
	is := is.New(t)
	stop := 60
	restartAt := time.Now()
	is.NoErr(api.ContainerRestart(ctx, id, container.StopOptions{Timeout: &stop}))
	_, err := engine.WaitForLog(ctx, api, id, "images already loaded; skipping load", 1)
	is.NoErr(err)
	addr := hostAddr(t, ctx, e, api, id) // a restart may publish on a new port
	is.Equal(waitHTTP(t, ctx, api, id, "http://"+addr+"/"), greeting)
	took := time.Since(restartAt)
	t.Logf("restart (stop + start): service answered after %s", took.Round(100*time.Millisecond))
	return took
}

// stopsCleanly runs `docker stop` on the bundle id, which booted and restarted once: SIGTERM,
// the stack first, then dockerd, exit 0 well within the timeout; the images were loaded once.
// It returns how long the stop took and the container's log.
func stopsCleanly(t *testing.T, ctx context.Context, api client.APIClient, id string) (time.Duration, string) {
	t.Helper()
	is := is.New(t)
	took, logs := stopExitsZero(t, ctx, api, id)
	is.Equal(strings.Count(logs, "images verified"), 1) // loaded once, on the first boot
	lastStack, lastDockerd := strings.LastIndex(logs, "stack stopped"), strings.LastIndex(logs, "dockerd stopped")
	is.True(lastStack >= 0)
	is.True(lastDockerd > lastStack)                    // the stack stops before the engine under it
	is.Equal(strings.Count(logs, "dockerd stopped"), 2) // restart and stop
	return took, logs
}

// stopExitsZero runs `docker stop` (60 s timeout) on the bundle id and fails the test, showing
// the container's log, unless it exits 0 (not 137: nothing was killed). It returns how long the
// stop took and the log.
func stopExitsZero(t *testing.T, ctx context.Context, api client.APIClient, id string) (time.Duration, string) {
	t.Helper()
	is := is.New(t)
	stop := 60
	stopAt := time.Now()
	is.NoErr(api.ContainerStop(ctx, id, container.StopOptions{Timeout: &stop}))
	took := time.Since(stopAt)
	info, err := api.ContainerInspect(ctx, id)
	is.NoErr(err)
	logs, err := engine.Logs(ctx, api, id)
	is.NoErr(err)
	if info.State.ExitCode != 0 {
		t.Fatalf("docker stop: exit code %d, want 0; container log:\n%s", info.State.ExitCode, logs)
	}
	return took, logs
}

// refusesWrongImages boots, on base, a bundle whose images.txt names a good image, one with
// other layers, one with the same layers and another config, and a missing one: the bundle
// refuses to start, naming each bad image and only those. Containers, volume and bundle image
// are named after prefix; env goes to the bundle container.
func refusesWrongImages(t *testing.T, ctx context.Context, api client.APIClient, base string, im serviceImages, prefix string, env []string) {
	t.Helper()
	is := is.New(t)
	missing := prefix + "-missing:latest"
	img := buildBundle(t, ctx, api, prefix+"-bundle:missing", base, bundleSpec{
		service: im.echo,
		save:    []string{im.echo, im.other, im.relabeled},
		listed: []listedImage{
			{im.echo, im.echo},
			{im.echo, im.other},     // present with other layers
			{im.echo, im.relabeled}, // present with another config
			{"", missing},
		},
		compression: "gz",
	})
	is.True(im.otherID != im.echoID)
	is.True(im.relabeledID != im.echoID)
	logs := failedBoot(t, ctx, api, engine.RunSpec{
		Name: prefix + "-run-missing", Image: img, Volume: prefix + "-vol-missing", Env: env,
	}, 3*time.Minute)
	is.True(strings.Contains(logs, "image "+missing+": missing"))
	is.True(strings.Contains(logs, "image "+im.other+": other layers than the bundle's"))
	is.True(strings.Contains(logs, "image "+im.relabeled+": ")) // same files, another config
	is.True(!strings.Contains(logs, "image "+im.echo+": "))     // the good one is not blamed
	is.True(!strings.Contains(logs, "starting stack"))          // nothing ran
	is.True(strings.Contains(logs, "dockerd stopped"))          // and the engine stopped cleanly
}

// listedImage is one image of images.txt and the manifest: name, claiming the identity (config
// digest and layers) of the saved image as, or one no image has when as is "".
type listedImage struct{ as, name string }

// failedBoot runs a bundle that must refuse to start and returns its log once it has exited
// with a non-zero code (within limit).
func failedBoot(t *testing.T, ctx context.Context, api client.APIClient, spec engine.RunSpec, limit time.Duration) string {
	t.Helper()
	is := is.New(t)
	c := dindtest.Run(t, api, spec)
	wctx, wcancel := context.WithTimeout(ctx, limit)
	defer wcancel()
	code, err := engine.WaitForExit(wctx, api, c.ID)
	is.NoErr(err)
	logs, err := engine.Logs(ctx, api, c.ID)
	is.NoErr(err)
	t.Logf("exit code %d; container log:\n%s", code, logs)
	is.True(code != 0) // the bundle refused to start
	return logs
}

type bundleSpec struct {
	service     string            // the image the compose service runs
	save        []string          // images in the archive
	listed      []listedImage     // images.txt and the manifest
	compression string            // layer files: "", "gz" or "zst"
	damage      bool              // flip bytes in the middle of every layer file, as a bad copy would
	certExtra   map[string]string // more files in certs/
	// registry, when set, is CONTAINER_REGISTRY: the saved images named under it are served by
	// the bundle's registry and, unless compose runs them, not loaded at boot.
	registry string
	compose  string // the compose file; "" for composeFor(service)
}

func buildBundle(t *testing.T, ctx context.Context, api client.APIClient, tag, base string, spec bundleSpec) string {
	t.Helper()
	enginetest.Cleanup(t, api, tag)
	var out bytes.Buffer
	id, err := build(ctx, api, tag, base, spec, &out)
	if err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, out.String())
	}
	return id
}

// build writes the bundle build context as package buildctx lays it out and builds it.
func build(ctx context.Context, api client.APIClient, tag, base string, spec bundleSpec, out io.Writer) (string, error) {
	// The images as the pipeline bundles them: a docker-save directory built from a layer
	// store, every layer file in the context (no layers image here).
	dir, err := os.MkdirTemp("", "dindtest-store-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	store, err := layerstore.Open(dir)
	if err != nil {
		return "", err
	}
	c := map[string]layerstore.Compression{"": layerstore.None, "gz": layerstore.Gzip, "zst": layerstore.Zstd}[spec.compression]
	ids, _, err := engine.ImageIDs(ctx, api, spec.save)
	if err != nil {
		return "", err
	}
	var want []layerstore.Want
	for _, n := range spec.save {
		want = append(want, layerstore.Want{Name: n, ID: ids[n]})
	}
	saved, err := store.Export(ctx, api, want, c, nil, 0)
	if err != nil {
		return "", err
	}
	var images []ctxFile
	set := layerstore.Set{Compression: c, Images: saved}
	reg, err := registryFiles(ctx, set, store, spec)
	if err != nil {
		return "", err
	}
	stream, err := bundleimage.StreamFiles(reg.boot, store)
	if err != nil {
		return "", err
	}
	for _, e := range append(bundleimage.ContextEntries(set, reg.boot, store, true), stream...) {
		if e.Dir {
			continue // the files list has the directory
		}
		data := e.Data
		if e.Src != "" {
			if data, err = os.ReadFile(e.Src); err != nil {
				return "", err
			}
		}
		if spec.damage && strings.Contains(e.Name, ".tar") && len(data) > 64 {
			data = slices.Clone(data)
			for i := len(data) / 2; i < len(data)/2+16; i++ {
				data[i] ^= 0xff
			}
		}
		images = append(images, ctxFile{name: e.Name, data: data, mode: 0o644})
	}

	m := manifest.Manifest{
		SchemaVersion: manifest.SchemaMerged,
		GeneratedAt:   time.Now().UTC(),
		Build:         manifest.Build{Project: project, Env: "test", Mode: "docker", ImageTag: "latest"},
	}
	byName := map[string]layerstore.Image{}
	for _, img := range saved {
		byName[img.Name] = img
	}
	for _, l := range spec.listed {
		img := manifest.Image{Name: l.name, Kind: manifest.KindService}
		if s, ok := byName[l.as]; ok {
			img.Digest, img.Config, img.DiffIDs = s.ID, s.Config, s.DiffIDs
		} else {
			none := "sha256:" + strings.Repeat("0", 64)
			img.Digest, img.Config, img.DiffIDs = none, none, []string{none}
		}
		m.Images = append(m.Images, img)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	files := []ctxFile{
		{name: "Dockerfile", data: dind.Dockerfile, mode: 0o644},
		{name: "entrypoint.sh", data: dind.Entrypoint, mode: 0o755},
		{name: "app/compose.yml", data: []byte(cmp.Or(spec.compose, composeFor(spec.service))), mode: 0o644},
		{name: "app/config/", mode: 0o755, dir: true},
		{name: "app/config/greeting.txt", data: []byte(configText), mode: 0o644},
		{name: "app/.env", data: []byte("GREETING=" + greeting + "\nCERT_DIR=" + certTarget + "\n"), mode: 0o600},
		{name: "app/bundle/manifest.json", data: append(mj, '\n'), mode: 0o644},
		{name: "app/bundle/images.txt", data: buildctx.ImagesList(m), mode: 0o644},
		{name: "certs/", mode: 0o755, dir: true},
		{name: "certs/server.crt", data: []byte(serverCert), mode: 0o644},
		{name: "certs/rootCA.crt", data: []byte("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"), mode: 0o644},
		{name: "images/", mode: 0o755, dir: true},
		{name: "bin/", mode: 0o755, dir: true},
	}
	for _, part := range dind.RuntimeFiles() {
		files = append(files, ctxFile{name: buildctx.BinDir + "/" + part.Installed, data: part.Data, mode: 0o644})
	}
	files = append(files, images...)
	files = append(files, reg.files...)
	for _, n := range slices.Sorted(maps.Keys(spec.certExtra)) {
		files = append(files, ctxFile{name: "certs/" + n, data: []byte(spec.certExtra[n]), mode: 0o600})
	}
	buildCtx, err := tarOf(files)
	if err != nil {
		return "", err
	}
	return engine.Build(ctx, api, bytes.NewReader(buildCtx), engine.BuildOptions{
		Tag: tag,
		BuildArgs: map[string]string{
			"DIND_BASE_IMAGE": base,
			"RUN_UID":         fmt.Sprint(runUID),
			"RUN_GID":         fmt.Sprint(runUID),
			"CERT_TARGET":     certTarget,
			"BUNDLE_PROJECT":  project,
		},
	}, out)
}

type ctxFile struct {
	name string
	data []byte
	mode int64
	dir  bool
}

func tarOf(files []ctxFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1_600_000_000, 0)}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hostAddr is where the test reaches the bundle's published 8080 on e.
func hostAddr(t *testing.T, ctx context.Context, e enginetest.Engine, api client.APIClient, id string) string {
	t.Helper()
	addr, err := engine.HostAddr(ctx, api, id, "8080/tcp")
	if err != nil {
		t.Fatal(err)
	}
	return e.Reach(t, addr)
}

// waitHTTP waits up to three minutes for url, failing with the container's log.
func waitHTTP(t *testing.T, ctx context.Context, api client.APIClient, id, url string) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	body, err := dindtest.WaitHTTP(wctx, url)
	if err != nil {
		logs, _ := engine.Logs(ctx, api, id)
		t.Fatalf("%v\ncontainer log:\n%s", err, logs)
	}
	return body
}

// statPath returns the tar header the engine gives path in the container (mode and owner as
// the image has them).
func statPath(t *testing.T, ctx context.Context, api client.APIClient, id, p string) *tar.Header {
	t.Helper()
	rc, _, err := api.CopyFromContainer(ctx, id, p)
	if err != nil {
		t.Fatalf("copy %s from the container: %v", p, err)
	}
	defer rc.Close()
	h, err := tar.NewReader(rc).Next()
	if err != nil {
		t.Fatalf("read %s from the container: %v", p, err)
	}
	return h
}

// filesNamed lists the files called base in any layer of image: a file deleted by a later
// layer still ships in the earlier one, so the layers are read, not a container's view.
func filesNamed(t *testing.T, ctx context.Context, api client.APIClient, image, base string) []string {
	t.Helper()
	rc, err := api.ImageSave(ctx, []string{image})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var found []string
	outer := tar.NewReader(rc)
	for {
		h, err := outer.Next()
		if err == io.EOF {
			return found
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, "layer.tar") && !strings.HasPrefix(h.Name, "blobs/") {
			continue
		}
		inner := tar.NewReader(outer)
		for {
			ih, err := inner.Next()
			if err != nil {
				break // end of the layer, or a blob that is not a layer
			}
			if path.Base(ih.Name) == base {
				found = append(found, h.Name+": "+ih.Name)
			}
		}
	}
}

// removeIntermediates removes, when the test ends, the untagged images a failed classic build
// left behind (the engine keeps each finished step as a cache image; with no final image to
// remove, nothing else would). Tagged images (the base) and images other images still build on
// are left alone.
func removeIntermediates(t *testing.T, api client.APIClient, buildOutput string) {
	ids := regexp.MustCompile(`---> ([0-9a-f]{12})\b`).FindAllStringSubmatch(buildOutput, -1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := len(ids) - 1; i >= 0; i-- { // deepest first; its untagged parents go with it
			info, err := api.ImageInspect(ctx, ids[i][1])
			if err != nil || len(info.RepoTags) > 0 {
				continue
			}
			_, _ = api.ImageRemove(ctx, info.ID, image.RemoveOptions{PruneChildren: true})
		}
	})
}

// logWriter shows the base build's progress in the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
