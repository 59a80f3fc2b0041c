package enginetest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/matryer/is"
)

// The helpers other packages rely on must make images the engine can run and pull.
func TestScratchImageRunsGoBinary(t *testing.T) { enginetest.Each(t, scratchImageRunsGoBinaryOn) }

func scratchImageRunsGoBinaryOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	id := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-helper-hello:latest"),
		map[string][]byte{"etc/greeting": []byte("hi\n")},
		enginetest.GoBinary("./testdata/hello"), enginetest.Cmd("a", "b"),
		enginetest.Labels(map[string]string{"enginetest.purpose": "helper-test"}))
	info, err := c.ImageInspect(ctx, enginetest.Unique("enginetest-helper-hello:latest"))
	is.NoErr(err)
	is.Equal(info.ID, id)
	is.Equal(info.Config.Entrypoint, []string{"/app"})
	is.Equal(info.Config.Cmd, []string{"a", "b"})
	is.Equal(info.Config.Labels["enginetest.purpose"], "helper-test")
	is.Equal(len(info.RootFS.Layers), 2) // the file, then the binary

	created, err := c.ContainerCreate(ctx, &container.Config{Image: id}, nil, nil, nil, "")
	is.NoErr(err)
	t.Cleanup(func() {
		_ = c.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	is.NoErr(c.ContainerStart(ctx, created.ID, container.StartOptions{}))
	waitC, errC := c.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		is.Equal(w.StatusCode, int64(0))
	case err := <-errC:
		t.Fatal(err)
	}
	logs, err := c.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true})
	is.NoErr(err)
	defer logs.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, logs)
	is.NoErr(err)
	is.Equal(out.String(), "hello from enginetest [a b]\n")
}

func TestPushRandomThenPull(t *testing.T) { enginetest.Each(t, pushRandomThenPullOn) }

func pushRandomThenPullOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	host := e.Registry(t)
	ref := enginetest.PushRandom(t, host, "enginetest-random", "v1", 2, 1<<20)
	enginetest.Cleanup(t, c, ref)
	is.NoErr(engine.Pull(ctx, c, ref, nil))
	info, err := c.ImageInspect(ctx, ref)
	is.NoErr(err)
	is.Equal(len(info.RootFS.Layers), 2)
	is.Equal(info.Os, "linux")
}

func TestCountingCountsCalls(t *testing.T) { enginetest.Each(t, countingCountsCallsOn) }

func countingCountsCallsOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	counting := enginetest.NewCounting(c)
	ctx := context.Background()

	_, missing, err := engine.ImageIDs(ctx, counting, []string{"enginetest-count-absent-1:x", "enginetest-count-absent-2:x"})
	is.NoErr(err)
	is.Equal(len(missing), 2)
	is.Equal(counting.Count("ImageInspect"), int64(2))
	is.Equal(counting.Calls.Load(), int64(2))
	_, err = counting.Info(ctx) // system calls pass through uncounted
	is.NoErr(err)
	is.Equal(counting.Calls.Load(), int64(2))
	counting.Reset()
	is.Equal(counting.Calls.Load(), int64(0))
	is.Equal(len(counting.Methods()), 0)
}

// TestUnique: a test's image name gets this checkout's suffix on its repository, whatever the
// tag and registry; the same name gives the same result.
func TestUnique(t *testing.T) {
	is := is.New(t)
	id := enginetest.CheckoutID()
	is.Equal(len(id), 8)
	for ref, want := range map[string]string{
		"enginetest-ids:v1":             "enginetest-ids-" + id + ":v1",
		"enginetest-ids":                "enginetest-ids-" + id,
		"127.0.0.1:5010/fn:it":          "127.0.0.1:5010/fn-" + id + ":it",
		"127.0.0.1:5010/fn":             "127.0.0.1:5010/fn-" + id,
		"registry.local/team/fn:latest": "registry.local/team/fn-" + id + ":latest",
	} {
		is.Equal(enginetest.Unique(ref), want)
	}
	is.Equal(enginetest.Unique("a:1"), enginetest.Unique("a:1"))
}
