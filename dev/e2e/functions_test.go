package e2e

import (
	"context"
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
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dev/demo/demotest"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/source/sourcetest"
)

// TestBundleFunctionsAnswer is the demo as a user meets it: bundled through mage, booted, every
// route called over HTTPS with the bundle's CA — the gateway routes by the generated
// routing.yml, the agent pulls each function's image from the bundle's own registry on
// CONTAINER_REGISTRY and runs it — first cold (pull, create, start), then warm; again after a
// restart; then exported (mage export), loaded with load.sh on every other engine of
// TEST_ENGINES (the same engine, its copy removed first, when only one is selected) and called
// once more there: each outer engine of the matrix boots the bundle and its functions answer.
func TestBundleFunctionsAnswer(t *testing.T) {
	engines := enginetest.Engines(t)
	home, aways := engines[0], engines[1:]
	if len(aways) == 0 {
		aways = engines
	}
	is := is.New(t)
	ctx := context.Background()
	hostAPI := enginetest.Client(t)
	if _, err := base.Ensure(ctx, hostAPI, base.Options{Progress: io.Discard}); err != nil {
		t.Fatalf("build the DinD base image: %v", err)
	}
	api := home.Client(t)
	home.FromHost(t, base.DefaultTag)
	// The runtime stand-ins' Debian root filesystem is built once, on the host engine.
	_, err := demo.Prepare(ctx, hostAPI, filepath.Join(repoRoot(t), "examples", "demo"), io.Discard)
	is.NoErr(err)
	home.FromHost(t, demo.RootfsTag())

	src := filepath.Join(repoRoot(t), "examples", "demo")
	vars, err := demo.Prepare(ctx, api, src, io.Discard)
	is.NoErr(err)
	dir := filepath.Join(t.TempDir(), "demo")
	is.NoErr(os.CopyFS(dir, os.DirFS(src)))
	for _, out := range []string{".esb", "build"} {
		is.NoErr(os.RemoveAll(filepath.Join(dir, out)))
	}
	registry := home.Registry(t)
	pushToRegistry(t, api, demo.LogsImage, registry+"/example/logs:1.0")
	is.NoErr(os.WriteFile(filepath.Join(dir, ".env"), []byte("EXAMPLE_REGISTRY="+registry+
		"\nRUSTFS_ACCESS_KEY=e2e-access\nRUSTFS_SECRET_KEY=e2e-secret-key\nCONTAINER_REGISTRY=127.0.0.1:5010\n"), 0o644))

	suffix := fmt.Sprint(time.Now().UnixNano())
	tag := "e2e-fn-" + suffix + ":latest"
	prefix := "e2efn" + suffix
	env := []string{
		"TEMPLATE=template.yaml", "DIND_BASE_IMAGE=" + base.DefaultTag, "BUNDLE_TAG=" + tag,
		"IMAGE_PREFIX=" + prefix, "PROJECT_NAME=" + prefix,
	}
	env = append(env, home.Env(t)...)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	bin := sourcetest.Mage(t)
	mage(t, bin, dir, env, "certs:generate")
	t.Cleanup(func() { removePrefixed(api, prefix, tag, registry+"/example/logs:1.0") })
	mage(t, bin, dir, env, "bundle")
	hc := demotest.HTTPSClient(t, filepath.Join(dir, ".esb", "certs", "rootCA.crt"))

	// 1. First boot: every function answers, cold (the pull from the bundle's registry), then warm.
	c := dindtest.Run(t, api, engine.RunSpec{Name: "e2e-fn-" + suffix, Image: tag, Volume: "e2e-fn-" + suffix, Ports: []string{"8443/tcp"}, StopTimeout: 10})
	if !callEveryRoute(t, home, api, hc, c.ID, "first boot (first calls incl. pull)") {
		t.FailNow()
	}

	// 2. Restart: the pulled images stay in the volume; the workers start again.
	is.NoErr(api.ContainerRestart(ctx, c.ID, container.StopOptions{}))
	if !callEveryRoute(t, home, api, hc, c.ID, "after restart") {
		t.FailNow()
	}
	dindtest.Remove(t, api, c.Name, "e2e-fn-"+suffix)

	// 3. Export, load with load.sh on the other engine, call again.
	mage(t, bin, dir, env, "export")
	file := filepath.Join(dir, "build", strings.NewReplacer(":", "-", "/", "-").Replace(tag)+".tar.gz")
	_, err = os.Stat(file)
	is.NoErr(err)
	for _, away := range aways {
		callLoaded(t, home, away, hc, dir, file, tag, suffix)
	}
}

// callLoaded loads the exported bundle file with load.sh on engine away, boots it and calls
// every route, cold then warm.
func callLoaded(t *testing.T, home, away enginetest.Engine, hc *http.Client, dir, file, tag, suffix string) {
	is := is.New(t)
	ctx := context.Background()
	awayAPI := away.Client(t)
	if away.Name == home.Name {
		is.NoErr(engine.Remove(ctx, awayAPI, tag)) // load it back from the file alone
	}
	load := exec.Command("sh", filepath.Join(dir, "build", "load.sh"), file)
	load.Env = append(os.Environ(), away.Env(t)...)
	out, err := load.CombinedOutput()
	if err != nil {
		t.Fatalf("load.sh on %s: %v\n%s", away.Name, err, out)
	}
	t.Cleanup(func() { _ = engine.Remove(context.Background(), awayAPI, tag) })
	name := "e2e-fn-" + away.Name + "-" + suffix
	c := dindtest.Run(t, awayAPI, engine.RunSpec{Name: name, Image: tag, Volume: name, Ports: []string{"8443/tcp"}, StopTimeout: 10})
	callEveryRoute(t, away, awayAPI, hc, c.ID, "loaded from the export")
	dindtest.Remove(t, awayAPI, c.Name, name)
}

// callEveryRoute calls every route of the bundle id on engine e through its gateway, cold then
// warm, and logs both timings under when; after a failed call it logs the stack's services and
// returns false.
func callEveryRoute(t *testing.T, e enginetest.Engine, api client.APIClient, hc *http.Client, id, when string) bool {
	t.Helper()
	gw := gatewayURL(t, e, api, hc, id)
	cold := demotest.CallAll(t, hc, gw)
	warm := demotest.CallAll(t, hc, gw)
	t.Logf("engine %s, %s: first calls %s; warm calls %s", e.Name, when, demotest.Durations(cold), demotest.Durations(warm))
	if t.Failed() {
		logStack(t, api, id)
		return false
	}
	return true
}

// gatewayURL waits for the bundle's gateway to answer HTTPS and returns its base URL.
func gatewayURL(t *testing.T, e enginetest.Engine, api client.APIClient, hc *http.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr, err := engine.HostAddr(ctx, api, id, "8443/tcp")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + strings.TrimPrefix(e.Reach(t, addr), "127.0.0.1:")
	// A matrix engine's forwarder waits, when the test ends, for its connections to close:
	// the client's idle keep-alive ones are closed first (cleanups run last-in, first-out).
	t.Cleanup(hc.CloseIdleConnections)
	start := time.Now()
	if _, err := waitHTTPS(ctx, hc, url+"/health"); err != nil {
		logs, _ := engine.Logs(context.Background(), api, id)
		t.Fatalf("%v\nbundle log:\n%s", err, logs)
	}
	t.Logf("gateway answered after %s", time.Since(start).Round(100*time.Millisecond))
	return url
}

// logStack logs the bundle's log and its inner agent's and gateway's, for a failed call.
func logStack(t *testing.T, api client.APIClient, id string) {
	t.Helper()
	ctx := context.Background()
	logs, _ := engine.Logs(ctx, api, id)
	t.Logf("bundle log:\n%s", logs)
	for _, svc := range []string{"agent", "gateway"} {
		out, _, _ := engine.Exec(ctx, api, id, "sh", "-c", "docker logs $(docker ps -aqf label=com.docker.compose.service="+svc+") 2>&1 | tail -40")
		t.Logf("%s log:\n%s", svc, out)
	}
}

// removePrefixed removes the images a bundle run built (named after prefix) and the others named.
func removePrefixed(api client.APIClient, prefix string, refs ...string) {
	ctx := context.Background()
	list, err := api.ImageList(ctx, image.ListOptions{})
	if err == nil {
		for _, img := range list {
			for _, name := range img.RepoTags {
				if strings.Contains(name, prefix) {
					refs = append(refs, name)
				}
			}
		}
	}
	_ = engine.Remove(ctx, api, refs...)
}
