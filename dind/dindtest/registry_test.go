package dindtest_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/registry"
)

const registryAddr = "127.0.0.1:5010"

// registryCells are the inner engines the registry is tried on: the default base (Engine 26.1,
// zstd layers served as they are), the bookworm base (Engine 20.10: zstd layers served
// uncompressed, gzip ones as they are) and 26.1 on the containerd image store. The registry
// and the pulls live inside the bundle, so the outer engine changes only how the bundle was put
// together: the bookworm cells, the slowest, run on the host engine alone (hostOnly).
var registryCells = []struct {
	name, suite  string
	compression  string // "zst" unless said
	env          []string
	uncompressed bool
	hostOnly     bool
}{
	{name: "trixie-26.1"},
	{name: "bookworm-20.10", suite: "bookworm", uncompressed: true, hostOnly: true},
	{name: "bookworm-20.10-gzip", suite: "bookworm", compression: "gz", hostOnly: true},
	{name: "trixie-26.1-containerd", env: []string{"DOCKERD_IMAGE_STORE=containerd"}},
}

// TestBundleRegistry bundles a service and two function images named under 127.0.0.1:5010
// (FROM scratch, sharing their base layer): the function images are served by the bundle's
// registry, not loaded at boot; FUNCTIONS_PRELOAD says when they are pulled.
func TestBundleRegistry(t *testing.T) { enginetest.Each(t, bundleRegistryOn) }

func bundleRegistryOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	im := buildServiceImages(t, api, "bundlereg")
	fnBase := "bundlereg-fnbase:latest"
	enginetest.ScratchImage(t, api, fnBase, nil, enginetest.GoBinary("./testdata/echo"))
	fns := []string{registryAddr + "/bundlereg-fn-a:latest", registryAddr + "/bundlereg-fn-b:latest"}
	for _, fn := range fns {
		enginetest.ScratchImage(t, api, fn, map[string][]byte{"fn.txt": []byte(fn + "\n")}, enginetest.From(fnBase))
	}
	for _, cell := range registryCells {
		t.Run(cell.name, func(t *testing.T) {
			if cell.hostOnly && e.Name != enginetest.HostEngine {
				t.Skipf("inner Engine 20.10 cells run on the %s engine only (the registry works inside the bundle)", enginetest.HostEngine)
			}
			is := is.New(t)
			b := ensureBase(t, ctx, e, cell.suite)
			spec := bundleSpec{
				service: im.echo, save: append([]string{im.echo}, fns...),
				listed:      []listedImage{{im.echo, im.echo}, {fns[0], fns[0]}, {fns[1], fns[1]}},
				compression: "zst", registry: registryAddr,
			}
			if cell.compression != "" {
				spec.compression = cell.compression
			}
			img := buildBundle(t, ctx, api, "bundlereg-bundle:"+cell.name, b, spec)
			run := func(name string, env ...string) (engine.Container, time.Duration) {
				start := time.Now()
				c := dindtest.Run(t, api, engine.RunSpec{
					Name: "bundlereg-run-" + cell.name + "-" + name, Image: img, Volume: "bundlereg-vol-" + cell.name + "-" + name,
					Ports: []string{"8080/tcp"}, Env: append(append([]string{}, cell.env...), env...),
				})
				is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+hostAddr(t, ctx, e, api, c.ID)+"/"), greeting)
				return c, time.Since(start)
			}
			present := func(c engine.Container, name string) bool {
				_, code, err := engine.Exec(ctx, api, c.ID, "docker", "image", "inspect", name)
				is.NoErr(err)
				return code == 0
			}
			logsOf := func(c engine.Container) string {
				logs, err := engine.Logs(ctx, api, c.ID)
				is.NoErr(err)
				return logs
			}

			t.Run("none: served, not loaded; pulled on demand", func(t *testing.T) {
				is := is.New(t)
				c, firstBoot := run("none", "FUNCTIONS_PRELOAD=none")
				logs := logsOf(c)
				is.True(strings.Contains(logs, "registry ready on "+registryAddr))
				is.Equal(strings.Contains(logs, "layers served uncompressed"), cell.uncompressed)
				is.True(present(c, im.echo))
				for _, fn := range fns {
					is.True(!present(c, fn)) // not loaded at boot
				}
				var idx registry.Index
				out, code, err := engine.Exec(ctx, api, c.ID, "cat", "/app/bundle/registry.json")
				is.NoErr(err)
				is.Equal(code, 0)
				is.NoErr(json.Unmarshal([]byte(out), &idx))
				is.Equal(len(idx.Images), 2)

				pullAt := time.Now()
				out, code, err = engine.Exec(ctx, api, c.ID, "docker", "pull", fns[0])
				is.NoErr(err)
				if code != 0 {
					t.Fatalf("docker pull %s: exit %d\n%s\nlog:\n%s", fns[0], code, out, logsOf(c))
				}
				firstPull := time.Since(pullAt)
				// The pulled image is the bundle's: its layers, and its config (the classic
				// store's ID) or the served manifest (the containerd store's).
				out, code, err = engine.Exec(ctx, api, c.ID, "docker", "image", "inspect", "--format", "{{.Id}} {{range .RootFS.Layers}}{{.}},{{end}}", fns[0])
				is.NoErr(err)
				is.Equal(code, 0)
				id, layers, _ := strings.Cut(strings.TrimSpace(out), " ")
				served := idx.Images[0]
				is.Equal(served.Name, fns[0])
				var diffIDs []string
				for _, l := range served.Layers {
					diffIDs = append(diffIDs, l.DiffID.String())
				}
				is.Equal(strings.TrimSuffix(layers, ","), strings.Join(diffIDs, ","))
				is.True(id == served.Config.Digest.String() || id == served.Digest.String() || id == served.UncompressedDigest.String())
				out, code, err = engine.Exec(ctx, api, c.ID, "docker", "run", "-d", "--name", "fn-a", fns[0])
				is.NoErr(err)
				is.Equal(code, 0)
				time.Sleep(time.Second)
				out, _, err = engine.Exec(ctx, api, c.ID, "docker", "inspect", "--format", "{{.State.Running}}", "fn-a")
				is.NoErr(err)
				is.Equal(strings.TrimSpace(out), "true") // the pulled function image runs
				_, _, err = engine.Exec(ctx, api, c.ID, "docker", "rm", "-f", "fn-a")
				is.NoErr(err)

				// Read-only: a push is refused.
				out, code, err = engine.Exec(ctx, api, c.ID, "sh", "-c", "docker tag "+fns[0]+" "+registryAddr+"/bundlereg-pushed:1 && docker push "+registryAddr+"/bundlereg-pushed:1")
				is.NoErr(err)
				is.True(code != 0)
				t.Logf("push refused: %s", strings.TrimSpace(out))

				// Restart with the volume: nothing loaded, the registry ready again at once.
				stop := 60
				restartAt := time.Now()
				is.NoErr(api.ContainerRestart(ctx, c.ID, container.StopOptions{Timeout: &stop}))
				_, err = engine.WaitForLog(ctx, api, c.ID, "registry ready on", 2)
				is.NoErr(err)
				is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+hostAddr(t, ctx, e, api, c.ID)+"/"), greeting)
				restart := time.Since(restartAt)
				logs = logsOf(c)
				is.Equal(strings.Count(logs, "images verified"), 1) // loaded once
				is.True(strings.Contains(logs, "images already loaded; skipping load"))
				ready := regexp.MustCompile(`registry ready on \S+ in ([0-9.]+)s`).FindAllStringSubmatch(logs, -1)
				is.Equal(len(ready), 2)
				took, _ := stopExitsZero(t, ctx, api, c.ID)
				t.Logf("cell %s × %s: first boot %s, restart %s (registry ready in %ss and %ss after dockerd), first pull %s, stop %s",
					e.Name, cell.name, firstBoot.Round(100*time.Millisecond), restart.Round(100*time.Millisecond),
					ready[0][1], ready[1][1], firstPull.Round(10*time.Millisecond), took.Round(100*time.Millisecond))
			})

			t.Run("background: pulled after the stack is up", func(t *testing.T) {
				is := is.New(t)
				c, boot := run("background")
				deadline := time.Now().Add(2 * time.Minute)
				for !(present(c, fns[0]) && present(c, fns[1])) {
					if time.Now().After(deadline) {
						t.Fatalf("the function images did not arrive; log:\n%s", logsOf(c))
					}
					time.Sleep(200 * time.Millisecond)
				}
				logs := logsOf(c)
				is.True(strings.Index(logs, "pulling 2 function images in the background") > strings.Index(logs, "is up"))
				_, err := engine.WaitForLog(ctx, api, c.ID, "pulled 2 of 2 function images", 1)
				is.NoErr(err)
				t.Logf("background: service answered after %s; log:\n%s", boot.Round(100*time.Millisecond), logsOf(c))
			})

			t.Run("boot: pulled before the stack", func(t *testing.T) {
				is := is.New(t)
				c, boot := run("boot", "FUNCTIONS_PRELOAD=boot")
				logs := logsOf(c)
				pulled, started := strings.Index(logs, "pulled 2 of 2 function images"), strings.Index(logs, "starting stack")
				is.True(pulled >= 0)
				is.True(pulled < started)
				for _, fn := range fns {
					is.True(present(c, fn))
				}
				t.Logf("boot: service answered after %s", boot.Round(100*time.Millisecond))
			})

			t.Run("an unknown FUNCTIONS_PRELOAD is refused", func(t *testing.T) {
				is := is.New(t)
				logs := failedBoot(t, ctx, api, engine.RunSpec{
					Name: "bundlereg-run-" + cell.name + "-eager", Image: img, Volume: "bundlereg-vol-" + cell.name + "-eager",
					Env: append(append([]string{}, cell.env...), "FUNCTIONS_PRELOAD=eager"),
				}, 2*time.Minute)
				is.True(strings.Contains(logs, "FUNCTIONS_PRELOAD=eager: unknown"))
				is.True(!strings.Contains(logs, "starting dockerd"))
			})
		})
	}
}
