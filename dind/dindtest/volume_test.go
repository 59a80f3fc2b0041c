package dindtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// A second bundle started on a /var/lib/docker volume a running bundle uses is refused at once,
// naming the running one; once that one is hard-killed (no clean-up of its own), the volume is
// free again: the lock is the kernel's, never a stale file.
func TestVolumeHeldByOneBundle(t *testing.T) { enginetest.Each(t, volumeHeldByOneBundleOn) }

func volumeHeldByOneBundleOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	base := ensureBase(t, ctx, e, "")
	im := buildServiceImages(t, api, "dindtest-vol")
	img := buildBundle(t, ctx, api, enginetest.Unique("dindtest-bundle:vol"), base, im.okSpec("gz"))
	const volume = "dindtest-vol-shared"

	first := dindtest.Run(t, api, engine.RunSpec{Name: "dindtest-vol-first", Image: img, Volume: volume})
	waitLog(t, ctx, api, first.ID, "stack dindtest is up")

	// The second container shares the volume: removed without it, the first's clean-up owns it.
	start := time.Now()
	second := startShared(t, ctx, api, "dindtest-vol-second", img, volume)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	code, err := engine.WaitForExit(wctx, api, second.ID)
	wcancel()
	is.NoErr(err)
	refused := time.Since(start)
	logs, err := engine.Logs(ctx, api, second.ID)
	is.NoErr(err)
	t.Logf("second bundle: exit %d after %s:\n%s", code, refused.Round(100*time.Millisecond), logs)
	is.True(code != 0)
	is.True(strings.Contains(logs, "/var/lib/docker is in use by another running bundle")) // says what is wrong
	is.True(strings.Contains(logs, "container "+first.ID[:12]))                            // names the other user
	is.True(!strings.Contains(logs, "dockerd"))                                            // refused before any engine started
	running, err := api.ContainerInspect(ctx, first.ID)
	is.NoErr(err)
	is.True(running.State.Running) // the first bundle is untouched

	// Hard-killed: nothing of the entrypoint runs, the kernel drops the lock.
	is.NoErr(api.ContainerKill(ctx, first.ID, "KILL"))
	_, err = engine.WaitForExit(ctx, api, first.ID)
	is.NoErr(err)
	third := startShared(t, ctx, api, "dindtest-vol-third", img, volume)
	waitLog(t, ctx, api, third.ID, "stack dindtest is up")
}

// startShared starts a bundle on a volume another container of the test created and removes the
// container (only) when the test ends.
func startShared(t *testing.T, ctx context.Context, api client.APIClient, name, img, volume string) engine.Container {
	t.Helper()
	t.Cleanup(func() { dindtest.Remove(t, api, name, "") })
	c, err := engine.StartDinD(ctx, api, engine.RunSpec{Name: name, Image: img, Volume: volume})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitLog waits until the container's log holds want, failing when it exits first.
func waitLog(t *testing.T, ctx context.Context, api client.APIClient, id, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		logs, err := engine.Logs(ctx, api, id)
		if err == nil && strings.Contains(logs, want) {
			return
		}
		info, err := api.ContainerInspect(ctx, id)
		if err == nil && info.State.Status == container.StateExited {
			logs, _ := engine.Logs(ctx, api, id)
			t.Fatalf("%s exited before logging %q:\n%s", id[:12], want, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
	logs, _ := engine.Logs(ctx, api, id)
	t.Fatalf("%s did not log %q within 3 minutes:\n%s", id[:12], want, logs)
}
