package embedded

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
)

// TestBuildersNameTheBundlingEngine: docker+ and the host engine's own DOCKER_HOST (its unix
// socket) is the engine's own BuildKit, not another engine. On each matrix engine of
// TEST_ENGINES, a docker+ entry that names the bundling engine by another address is its own
// BuildKit (the images land in it directly: no layout, no copy) and `engine` beside it is left
// out; with the host engine bundling, two addresses of one matrix engine make one builder. Each
// says so in one line.
func TestBuildersNameTheBundlingEngine(t *testing.T) {
	host := enginetest.Client(t)
	t.Run("host", func(t *testing.T) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if bk, err := buildkit.Connect(ctx, host, ""); err != nil {
			t.Skipf("the host engine has no BuildKit to build on: %v", err)
		} else {
			bk.Close()
		}
		entry := "docker+" + host.DaemonHost()
		todo, names := sleeperBuilds(t, host, "selfhost", 2, 0)
		start := time.Now()
		built, progress := buildPlanned(t, ctx, host, todo, Request{Builders: []string{entry}, ImageLayout: t.TempDir()})
		t.Logf("host bundles, listed as %s: 2 images in %s\n%s", entry, time.Since(start).Round(time.Millisecond), progress)
		is.True(strings.HasPrefix(progress, "builds: "+entry+" is the bundling engine: its own BuildKit builds there, the images land in it directly (as for engine)\n"))
		is.True(strings.Contains(progress, "builds: on the engine's BuildKit, 2 at a time"))
		is.True(!strings.Contains(progress, "copying the image")) // not copied onto itself
		for i, name := range names {
			is.Equal(built[name].Where, "the engine's BuildKit")
			got, _ := fileInImage(t, host, name, "/n.txt")
			is.Equal(got, fmt.Sprintf("%d\n", i))
		}
	})
	for _, e := range enginetest.Engines(t) {
		if !e.Matrix() {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			api := e.Client(t)
			byIP := "docker+" + api.DaemonHost() // tcp://127.0.0.1:PORT
			byName := strings.Replace(byIP, "127.0.0.1", "localhost", 1)
			is.True(byName != byIP)
			tag := "self" + strings.ReplaceAll(e.Name, "-", "")

			// This engine bundles, and is listed by another address, then as engine.
			todo, names := sleeperBuilds(t, api, tag, 2, 0)
			req := Request{Builders: []string{byName + "?parallel=2", EngineBuilder}, ImageLayout: t.TempDir()}
			start := time.Now()
			built, progress := buildPlanned(t, ctx, api, todo, req)
			t.Logf("%s bundles, listed as %s and engine: 2 images in %s\n%s", e.Name, byName, time.Since(start).Round(time.Millisecond), progress)
			is.True(strings.Contains(progress, "builds: "+byName+" is the bundling engine: its own BuildKit builds there, the images land in it directly (as for engine)\n"))
			is.True(strings.Contains(progress, "builds: engine is the bundling engine, listed already as "+byName+": left out, one builder per engine\n"))
			is.True(strings.Contains(progress, "builds: on the engine's BuildKit, 2 at a time"))
			is.True(!strings.Contains(progress, "copying the image")) // not copied onto itself
			is.True(!strings.Contains(progress, "MB from the builders"))
			for i, name := range names {
				is.Equal(built[name].Where, "the engine's BuildKit")
				got, _ := fileInImage(t, api, name, "/n.txt")
				is.Equal(got, fmt.Sprintf("%d\n", i))
			}

			// The host engine bundles; this engine is listed twice: one builder.
			todo, names = sleeperBuilds(t, host, tag+"twice", 2, 0)
			enginetest.Cleanup(t, api, names...)
			req = Request{Builders: []string{byIP + "?parallel=2", byName}, ImageLayout: t.TempDir()}
			start = time.Now()
			built, progress = buildPlanned(t, ctx, host, todo, req)
			t.Logf("host bundles, %s listed twice: 2 images in %s\n%s", e.Name, time.Since(start).Round(time.Millisecond), progress)
			id, err := api.ID(ctx)
			is.NoErr(err)
			is.True(strings.Contains(progress, "builds: "+byName+" is the same engine as "+byIP+" (ID "+id+"): left out, one builder per engine\n"))
			is.True(strings.Contains(progress, "builds: on "+byIP+", 2 at a time"))
			for i, name := range names {
				is.Equal(built[name].Where, byIP)
				got, _ := fileInImage(t, host, name, "/n.txt")
				is.Equal(got, fmt.Sprintf("%d\n", i))
			}
		})
	}
}

// TestEngineBuildersSurviveOneKilled: for each matrix flavour of TEST_ENGINES, BUILDERS lists two
// engines of it (docker+tcp://…, two images at a time on each) building for the host engine; the
// second engine's container is killed (SIGKILL, then removed: a builder machine that
// disappears) while two of its builds run a slow step. Every image is built and runs in the
// host engine; the output names the lost builder once and says its builds moved; and the result
// is that of a run on the surviving engine alone: the same images, with the same layers.
func TestEngineBuildersSurviveOneKilled(t *testing.T) {
	host := enginetest.Client(t)
	for _, e := range enginetest.Engines(t) {
		if !e.Matrix() {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			survivor := e.Client(t)
			t0 := time.Now()
			victim := e.Disposable(t)
			startedIn := time.Since(t0)
			survivorEntry, victimEntry := "docker+"+survivor.DaemonHost(), "docker+"+victim.DaemonHost()
			const images, seconds = 6, 4
			todo, names := sleeperBuilds(t, host, "ekill"+strings.ReplaceAll(e.Name, "-", ""), images, seconds)
			enginetest.Cleanup(t, survivor, names...) // the classic store keeps what its BuildKit built
			req := Request{Builders: []string{survivorEntry + "?parallel=2", victimEntry + "?parallel=2"}, ImageLayout: t.TempDir()}

			progress := &registrytest.SyncBuffer{}
			watch, stopWatching := context.WithCancel(ctx)
			defer stopWatching()
			killed := make(chan killReport, 1)
			start := time.Now()
			go func() { killed <- killWhenBusy(watch, victim, fmt.Sprintf("/sleep %d", seconds), 2, start) }()
			built, err := buildAll(ctx, host, todo, nil, req, keptCache{}, progress)
			took := time.Since(start)
			stopWatching()
			k := <-killed
			out := progress.String()
			t.Logf("%s: second engine started in %s; %d images on two engines, one killed %s into the run with %d builds under way: %s\n%s",
				e.Name, startedIn.Round(100*time.Millisecond), images, k.after.Round(100*time.Millisecond), k.busy, took.Round(time.Millisecond), out)
			is.NoErr(k.err)
			is.NoErr(err)
			is.True(strings.Contains(out, "builds: on "+survivorEntry+" and "+victimEntry+", 4 at a time"))
			is.Equal(strings.Count(out, "builds: lost"), 1)
			is.True(strings.Contains(out, "builds: lost "+victimEntry+" mid-run"))
			moved := "moved: " + victimEntry + " was lost; requeued for another builder"
			is.Equal(strings.Count(out, moved), k.busy) // each build under way on it moved
			is.True(strings.Index(out, "builds: lost") < strings.Index(out, moved))
			is.True(!strings.Contains(out, "failed after"))
			where := map[string]int{}
			layers := map[string][]string{}
			for i, name := range names {
				is.True(built[name].Where == survivorEntry || built[name].Where == victimEntry)
				where[built[name].Where]++
				info, err := host.ImageInspect(ctx, name)
				is.NoErr(err)
				is.Equal(info.ID, built[name].ID)
				layers[name] = info.RootFS.Layers
				got, _ := fileInImage(t, host, name, "/n.txt")
				is.Equal(got, fmt.Sprintf("%d\n", i))
			}
			// They run in the bundling engine (one each way: the lost builder's and the other's).
			for _, name := range []string{names[0], names[len(names)-1]} {
				_, code := builderstest.Run(t, host, name, "/sleep", "0")
				is.Equal(code, int64(0))
			}
			t.Logf("%s: %d builds moved; images finished per builder: %v", e.Name, k.busy, where)

			// The same run on the survivor alone (its BuildKit has the steps cached by now).
			for _, name := range names {
				_, err := host.ImageRemove(ctx, name, image.RemoveOptions{Force: true})
				is.NoErr(err)
			}
			req.Builders = []string{survivorEntry + "?parallel=2"}
			start = time.Now()
			alone, err := buildAll(ctx, host, todo, nil, req, keptCache{}, io.Discard)
			t.Logf("%s: the same %d images on the surviving engine alone: %s", e.Name, images, time.Since(start).Round(time.Millisecond))
			is.NoErr(err)
			is.Equal(slices.Sorted(maps.Keys(alone)), slices.Sorted(maps.Keys(built)))
			for i, name := range names {
				info, err := host.ImageInspect(ctx, name)
				is.NoErr(err)
				is.Equal(info.RootFS.Layers, layers[name]) // the same files, layer for layer
				got, _ := fileInImage(t, host, name, "/n.txt")
				is.Equal(got, fmt.Sprintf("%d\n", i))
			}
		})
	}
}

// killReport is what killWhenBusy did: how long into the run it killed the engine, with how
// many builds under way there.
type killReport struct {
	after time.Duration
	busy  int
	err   error
}

// killWhenBusy kills engine d as soon as want of its processes run the command line step (the
// builds' slow step): they are then mid-run there. Its error says the engine was never that
// busy before ctx ended, or could not be killed.
func killWhenBusy(ctx context.Context, d *enginetest.Disposable, step string, want int, start time.Time) killReport {
	for {
		procs, err := d.Processes(ctx)
		if err != nil && ctx.Err() == nil {
			return killReport{err: err}
		}
		busy := 0
		for _, p := range procs {
			if strings.TrimSpace(p) == step {
				busy++
			}
		}
		if busy >= want {
			kctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return killReport{after: time.Since(start), busy: busy, err: d.Kill(kctx)}
		}
		select {
		case <-ctx.Done():
			return killReport{err: fmt.Errorf("the engine never ran %d builds' %q at once before the run ended: the kill did not land mid-run", want, step)}
		case <-time.After(200 * time.Millisecond):
		}
	}
}
