// Package e2e proves the whole product: the example stack is bundled through the mage targets
// (a subprocess running the compiled magefiles, as `go run magefile.go` would), the bundle runs on the real
// engine with no registry, and its runtime behaviour — HTTPS with the bundled certificate, image
// verification, restart without reloading, clean stop, refusal of incomplete images — is
// checked from the outside. It holds tests only, drives the product only as a user does, and
// nothing imports it.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dev/demo/demotest"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/internal/source/sourcetest"
)

func repoRoot(t *testing.T) string {
	root, err := source.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// mage runs a target of this repository's magefiles, compiled as bin (sourcetest.Mage), for the
// project in dir: what `go run magefile.go -w dir target` does.
func mage(t *testing.T, bin, dir string, env []string, target string) string {
	t.Helper()
	cmd := exec.Command(bin, target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mage %s: %v\n%s", target, err, out)
	}
	return string(out)
}

// pushToRegistry puts a local image into the in-process registry under ref and removes the
// local tag, so the Pull stage has to fetch it.
func pushToRegistry(t *testing.T, api client.APIClient, local, ref string) {
	t.Helper()
	if err := api.ImageTag(context.Background(), local, ref); err != nil {
		t.Fatal(err)
	}
	demotest.PushOnly(t, api, ref)
}

// waitHTTPS polls url (verified against the bundle's root CA) until it answers 200.
func waitHTTPS(ctx context.Context, hc *http.Client, url string) (string, error) {
	var last error
	for {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body), nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("GET %s: no answer (last: %v)", url, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func TestBundleRunsForReal(t *testing.T) { enginetest.Each(t, bundleRunsForRealOn) }

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

func bundleRunsForRealOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	if _, err := base.Ensure(ctx, enginetest.Client(t), base.Options{Progress: io.Discard}); err != nil {
		t.Fatalf("build the DinD base image: %v", err)
	}
	e.FromHost(t, base.DefaultTag)

	// The example, prepared (binaries, runtime stand-ins, logs image) and copied so the test
	// writes nothing into the checkout.
	src := filepath.Join(repoRoot(t), "examples", "demo")
	// The runtime stand-ins' Debian root filesystem is built once, on the host engine.
	_, err := demo.Prepare(ctx, enginetest.Client(t), src, io.Discard)
	is.NoErr(err)
	e.FromHost(t, demo.RootfsTag())
	vars, err := demo.Prepare(ctx, api, src, io.Discard)
	is.NoErr(err)
	dir := filepath.Join(t.TempDir(), "demo")
	is.NoErr(os.CopyFS(dir, os.DirFS(src)))
	for _, out := range []string{".esb", "build"} {
		is.NoErr(os.RemoveAll(filepath.Join(dir, out)))
	}

	// The logs image comes from a registry, as in a real stack.
	registry := e.Registry(t)
	pushToRegistry(t, api, demo.LogsImage, registry+"/example/logs:1.0")
	is.NoErr(os.WriteFile(filepath.Join(dir, ".env"), []byte(
		"EXAMPLE_REGISTRY="+registry+"\nRUSTFS_ACCESS_KEY=e2e-access\nRUSTFS_SECRET_KEY=e2e-secret-key\n"), 0o644))

	suffix := fmt.Sprint(time.Now().UnixNano())
	tag := "e2e-bundle-" + suffix + ":latest"
	env := []string{
		"TEMPLATE=template.yaml", "DIND_BASE_IMAGE=" + base.DefaultTag, "BUNDLE_TAG=" + tag,
		// Suffixed, like every name here: service images are <project>-<service>, and another
		// run of this test on the same engine must not build, replace or remove ours.
		"IMAGE_PREFIX=e2e" + suffix, "PROJECT_NAME=e2e" + suffix,
	}
	env = append(env, e.Env(t)...)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	bin := sourcetest.Mage(t)
	mage(t, bin, dir, env, "certs:generate")
	start := time.Now()
	out := mage(t, bin, dir, env, "bundle")
	firstRun := time.Since(start)
	t.Logf("mage bundle (first run): %v", firstRun.Round(time.Millisecond))
	is.True(strings.Contains(out, "pull: "+registry+"/example/logs:1.0")) // the external image came from the registry

	m, err := manifest.Read(filepath.Join(dir, "build", "bundle", "manifest.json"))
	is.NoErr(err)
	var built []string
	kinds := map[string]int{}
	for _, img := range m.Images {
		kinds[img.Kind]++
		if img.Kind == manifest.KindFunction || img.Kind == manifest.KindService {
			built = append(built, img.Name)
		}
	}
	t.Cleanup(func() { engine.Remove(context.Background(), api, append(built, tag, registry+"/example/logs:1.0")...) })
	is.True(kinds[manifest.KindFunction] >= 3) // hello, report, thumbnail
	is.True(kinds[manifest.KindService] >= 2)  // gateway, storage
	is.Equal(kinds[manifest.KindExternal], 1)  // logs

	start = time.Now()
	out = mage(t, bin, dir, env, "bundle")
	unchanged := time.Since(start)
	t.Logf("mage bundle (nothing changed): %v", unchanged.Round(time.Millisecond))
	for _, skipped := range []string{"deploy: ", "manifest: skipped", "pull: skipped", "save: skipped", "image: skipped"} {
		is.True(strings.Contains(out, skipped)) // second run does no work
	}

	// 1. First boot: the gateway answers HTTPS, verified with the example's root CA.
	c := dindtest.Run(t, api, engine.RunSpec{Name: "e2e-" + suffix, Image: tag, Volume: "e2e-" + suffix, Ports: []string{"8443/tcp", "9000/tcp"}, StopTimeout: 10})
	t.Logf("bundle runs in mode %s", c.Mode)
	hc := demotest.HTTPSClient(t, filepath.Join(dir, ".esb", "certs", "rootCA.crt"))
	hc.Timeout = 5 * time.Second // each poll of waitHTTPS gives up soon and tries again
	bootStart := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	addr, err := engine.HostAddr(ctx, api, c.ID, "8443/tcp")
	is.NoErr(err)
	addr = e.Reach(t, addr)
	body, err := waitHTTPS(waitCtx, hc, "https://localhost:"+strings.TrimPrefix(addr, "127.0.0.1:")+"/")
	if err != nil {
		logs, _ := engine.Logs(ctx, api, c.ID)
		t.Fatalf("%v\nbundle log:\n%s", err, logs)
	}
	firstBoot := time.Since(bootStart)
	t.Logf("first boot: gateway answered after %v: %.80q", firstBoot.Round(time.Millisecond), body)

	// 2. Inside, every manifest image is present with the identity the bundle's manifest records:
	// its layers, and its config digest, which is the image ID on an inner classic store (on an
	// inner containerd store the ID is a manifest digest the entrypoint resolved to the config).
	inBundle := enginetest.ImageFiles(t, api, tag, "/app/bundle/manifest.json")
	var bm manifest.Manifest
	is.NoErr(json.Unmarshal([]byte(inBundle["/app/bundle/manifest.json"].Content), &bm))
	driver, _, err := engine.Exec(ctx, api, c.ID, "docker", "info", "--format", "{{json .DriverStatus}}")
	is.NoErr(err)
	for _, img := range bm.Images {
		out, code, err := engine.Exec(ctx, api, c.ID, "docker", "image", "inspect", "--format", "{{.Id}} {{range .RootFS.Layers}}{{.}},{{end}}", img.Name)
		is.NoErr(err)
		is.Equal(code, 0)
		id, layers, _ := strings.Cut(strings.TrimSpace(out), " ")
		is.Equal(strings.TrimSuffix(layers, ","), strings.Join(img.DiffIDs, ",")) // the recorded layers
		if !strings.Contains(driver, "containerd") {
			is.Equal(id, img.Config) // the recorded config digest
		}
	}
	is.NoErr(engine.WaitHealthy(waitCtx, api, c.ID))

	// 3. Restart: the images are not loaded again and the gateway answers again.
	restartStart := time.Now()
	is.NoErr(api.ContainerRestart(ctx, c.ID, container.StopOptions{}))
	addr, err = engine.HostAddr(ctx, api, c.ID, "8443/tcp")
	is.NoErr(err)
	addr = e.Reach(t, addr)
	_, err = waitHTTPS(waitCtx, hc, "https://localhost:"+strings.TrimPrefix(addr, "127.0.0.1:")+"/")
	is.NoErr(err)
	restart := time.Since(restartStart)
	logs, err := engine.Logs(ctx, api, c.ID)
	is.NoErr(err)
	is.True(strings.Contains(logs, "images already loaded; skipping load"))
	t.Logf("durations: first boot %v, restart (stop + start + answer) %v", firstBoot.Round(time.Millisecond), restart.Round(time.Millisecond))

	// 4. docker stop: exit code 0, the stack stopped before dockerd.
	stopStart := time.Now()
	is.NoErr(api.ContainerStop(ctx, c.ID, container.StopOptions{})) // the container's 10 s, Docker's default
	code, err := engine.WaitForExit(ctx, api, c.ID)
	is.NoErr(err)
	is.Equal(code, int64(0))
	stopped := time.Since(stopStart)
	// One line per engine for README's engine table.
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	store := "classic"
	if e.Containerd() {
		store = "containerd"
	}
	t.Logf("engine %s (%s image store): mage bundle first run %s, nothing changed %s, first boot %s, restart %s, stop %s (exit 0)",
		e.Name, store, r(firstRun), r(unchanged), r(firstBoot), r(restart), r(stopped))
	logs, err = engine.Logs(ctx, api, c.ID)
	is.NoErr(err)
	last := logs[strings.LastIndex(logs, "dindbundler: starting stack"):]
	stack, daemon := strings.Index(last, "stack stopped"), strings.Index(last, "dockerd stopped")
	is.True(stack >= 0 && daemon > stack) // stack stopped, then dockerd

	// 6. No CA private key in the bundle; its .env is not world-readable.
	listing, code, err := runInImage(ctx, api, tag, "sh", "-c", "find / -xdev -iname 'rootCA.key' 2>/dev/null; stat -c '%a %U' /app/.env")
	is.NoErr(err)
	is.Equal(code, int64(0))
	is.True(!strings.Contains(listing, "rootCA.key"))
	mode := strings.Fields(strings.TrimSpace(listing))
	is.Equal(len(mode), 2)
	is.True(strings.HasSuffix(mode[0], "0")) // no permission bits for others
	is.Equal(mode[1], "root")

	// 5. A bundle whose images lack one manifest image refuses to start, naming it: the good
	// bundle with an /images/manifest.json that leaves the image out (the pipeline itself
	// refuses to build such a bundle), and without stream.txt, whose pieces carry a manifest of
	// their own (an inner engine before 23 then decompresses into the volume first, its fallback
	// for bundles from older layer stores).
	dropped := built[0]
	set, err := layerstore.ReadSet(filepath.Join(dir, "build", "bundle", "images.json"))
	is.NoErr(err)
	var rest []layerstore.Image
	for _, img := range set.Images {
		if img.Name != dropped {
			rest = append(rest, img)
		}
	}
	set.Images = rest
	brokenTag := "e2e-broken-" + suffix + ":latest"
	t.Cleanup(func() { engine.Remove(context.Background(), api, brokenTag) })
	_, err = engine.Build(ctx, api, tarOf(t, map[string][]byte{
		"Dockerfile":    []byte("FROM " + tag + "\nCOPY manifest.json /images/manifest.json\nRUN rm -f /images/stream.txt\n"),
		"manifest.json": bundleimage.DockerManifest(set),
	}), engine.BuildOptions{Tag: brokenTag}, io.Discard)
	is.NoErr(err)
	broken := dindtest.Run(t, api, engine.RunSpec{Name: "e2e-broken-" + suffix, Image: brokenTag, Volume: "e2e-broken-" + suffix})
	exitCtx, cancelExit := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelExit()
	code, err = engine.WaitForExit(exitCtx, api, broken.ID)
	is.NoErr(err)
	is.True(code != 0) // refuses to start
	logs, err = engine.Logs(ctx, api, broken.ID)
	is.NoErr(err)
	is.True(strings.Contains(logs, dropped)) // names the missing image
}

// tarOf is a build context holding files.
func tarOf(t *testing.T, files map[string][]byte) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// runInImage runs a command in a throwaway container of img, its entrypoint replaced.
func runInImage(ctx context.Context, api client.APIClient, img string, cmd ...string) (string, int64, error) {
	created, err := api.ContainerCreate(ctx, &container.Config{Image: img, Entrypoint: cmd[:1], Cmd: cmd[1:]}, nil, nil, nil, "")
	if err != nil {
		return "", 0, err
	}
	defer api.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err := api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return "", 0, err
	}
	code, err := engine.WaitForExit(ctx, api, created.ID)
	if err != nil {
		return "", 0, err
	}
	out, err := engine.Logs(ctx, api, created.ID)
	return out, code, err
}
