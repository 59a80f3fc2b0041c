package embedded

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
)

// TestRunOnStandaloneBuildKit starts a buildkitd of its own on a unix socket (BUILDKIT_HOST)
// and builds the template there with BUILD_CACHE: the images come back through the run's OCI
// layout into the engine, with their names, labels and files, the shared layer step run once. Then a
// second buildkitd, with an empty state of its own, builds them again from the cache directory
// alone: no step runs.
func TestRunOnStandaloneBuildKit(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sock := buildkittest.Start(t, bin).Addr
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-bkd")
	req.BuildKitHost = sock
	// buildkitd reads FROM images from registries, never from the engine's store, and none is
	// reachable here: the functions start from scratch.
	req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
	req.BuildCache = "type=local,dest=" + t.TempDir()
	todo := plannedBuilds(t, tmpl, req)
	built, progress := buildPlanned(t, ctx, api, todo, req)
	t.Logf("%s", progress)
	is.True(strings.Contains(progress, "builds: on BUILDKIT_HOST=unix://"))
	// The images came through the run's OCI layout, which the run's last line accounts for.
	is.True(strings.Contains(progress, "MB from the builders into "+req.ImageLayoutDir()))
	is.True(strings.Contains(progress, "MB loaded into the engine"))
	_, err := os.Stat(filepath.Join(req.ImageLayoutDir(), "index.json"))
	is.NoErr(err)
	for i, name := range names {
		info, err := api.ImageInspect(ctx, name)
		is.NoErr(err)
		is.Equal(info.Config.Labels["com.esb.function"], fmt.Sprintf("Fn%d", i))
		got, _ := fileInImage(t, api, name, "/var/task/app.py")
		is.Equal(got, fmt.Sprintf("N = %d\n", i))
		is.True(built[name].ID != "")
	}
	runs := map[string]bool{}
	for _, name := range names[:2] {
		for _, step := range built[name].Steps.Ran {
			if strings.Contains(step.Name, "COPY layers/1/ /opt/") {
				runs[step.Vertex+step.Started.String()] = true
			}
		}
	}
	is.Equal(len(runs), 1) // the shared step ran once

	// A fresh builder: only the cache directory is left of the first.
	req.BuildKitHost = buildkittest.Start(t, bin).Addr
	for _, name := range names {
		_, err := api.ImageRemove(ctx, name, image.RemoveOptions{Force: true})
		is.NoErr(err)
	}
	again, err := buildAll(ctx, api, todo, nil, req, keptCache{}, io.Discard)
	is.NoErr(err)
	for _, name := range names {
		is.Equal(again[name].Steps.Ran, nil) // every step from the cache directory
		is.True(len(again[name].Steps.Cached) > 0)
		_, err := api.ImageInspect(ctx, name)
		is.NoErr(err) // and the image is in the engine again
	}
}

// TestRunOnSeveralBuilders: BUILDERS lists two buildkitds; they share the images of a run, each
// image built on one of them and loaded into the engine.
func TestRunOnSeveralBuilders(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, b := buildkittest.Start(t, bin).Addr, buildkittest.Start(t, bin).Addr
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-two")
	req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
	req.Builders = []string{a, b}
	todo := plannedBuilds(t, tmpl, req)
	built, progress := buildPlanned(t, ctx, api, todo, req)
	is.True(strings.Contains(progress, "builds: on BUILDKIT_HOST="+a+" and BUILDKIT_HOST="+b+", 3 at a time"))
	where := map[string]int{}
	for i, name := range names {
		is.True(built[name].Where == "BUILDKIT_HOST="+a || built[name].Where == "BUILDKIT_HOST="+b)
		where[built[name].Where]++
		got, _ := fileInImage(t, api, name, "/var/task/app.py")
		is.Equal(got, fmt.Sprintf("N = %d\n", i))
	}
	t.Logf("images per builder: %v", where)

	req.BuildKitHost = a // and BUILDERS: which one is meant is unclear
	_, err := buildAll(ctx, api, todo, nil, req, keptCache{}, io.Discard)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "BUILDERS lists builders, and BUILDKIT_HOST or DEPLOY_BUILDER=classic names another"))
}

// TestBuildersSurviveOneKilled: BUILDERS lists two buildkitds, two images at a time on each;
// one is killed (SIGKILL) while its builds run a slow step. Its images are built on the other,
// the output names the lost builder once, and the run succeeds.
func TestBuildersSurviveOneKilled(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	survivor, victim := buildkittest.Start(t, bin), buildkittest.Start(t, bin)
	sleeper := buildkittest.Sleeper(t)
	var todo []pendingBuild
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("%s-kill%d:unit", unitPrefix, i)
		names = append(names, name)
		todo = append(todo, pendingBuild{ImageBuild: ImageBuild{
			Name: name, Kind: "function", For: fmt.Sprintf("Fn%d", i), Dockerfile: "Dockerfile",
			DockerfileText: "FROM scratch\nCOPY sleep /sleep\nCOPY n.txt /n.txt\nRUN [\"/sleep\", \"5\"]\nCMD [\"/sleep\", \"0\"]\n",
			Context: []ContextEntry{
				{Kind: EntryText, Target: "n.txt", Text: fmt.Sprintf("%d\n", i)},
				{Kind: EntryFile, Target: "sleep", Source: sleeper},
			},
		}})
	}
	enginetest.Cleanup(t, api, names...)
	req := Request{Builders: []string{survivor.Addr + "?parallel=2", victim.Addr + "?parallel=2"}, ImageLayout: t.TempDir()}

	progress := &registrytest.SyncBuffer{}
	killed := make(chan error, 1)
	go func() {
		time.Sleep(3 * time.Second) // both builders' slots are busy: their steps sleep 5 s
		killed <- victim.Kill()
	}()
	start := time.Now()
	built, err := buildAll(ctx, api, todo, nil, req, keptCache{}, progress)
	t.Logf("6 images, one builder killed after 3 s: %s\n%s", time.Since(start).Round(time.Millisecond), progress.String())
	is.NoErr(<-killed)
	is.NoErr(err)
	is.True(strings.Contains(progress.String(), "4 at a time"))
	is.Equal(strings.Count(progress.String(), "builds: lost"), 1)
	is.True(strings.Contains(progress.String(), "builds: lost BUILDKIT_HOST="+victim.Addr+" mid-run"))
	for i, name := range names {
		is.Equal(built[name].Where, "BUILDKIT_HOST="+survivor.Addr) // nothing finished on the victim
		got, _ := fileInImage(t, api, name, "/n.txt")
		is.Equal(got, fmt.Sprintf("%d\n", i))
	}
}

// TestBuildersBuildErrorIsNoLostBuilder: a Dockerfile's error on one of two builders fails that
// image alone, with its step's output; its builder still answers, so it is not named lost and
// keeps building.
func TestBuildersBuildErrorIsNoLostBuilder(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, b := buildkittest.Start(t, bin), buildkittest.Start(t, bin)
	var todo []pendingBuild
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("%s-err%d:unit", unitPrefix, i)
		names = append(names, name)
		df := "FROM scratch\nCOPY n.txt /n.txt\nCMD [\"/n.txt\"]\n"
		if i == 0 {
			df = "FROM scratch\nCOPY missing.txt /n.txt\n"
		}
		todo = append(todo, pendingBuild{ImageBuild: ImageBuild{
			Name: name, Kind: "function", For: fmt.Sprintf("Fn%d", i), Dockerfile: "Dockerfile", DockerfileText: df,
			Context: []ContextEntry{{Kind: EntryText, Target: "n.txt", Text: fmt.Sprintf("%d\n", i)}},
		}})
	}
	enginetest.Cleanup(t, api, names...)
	req := Request{Builders: []string{a.Addr + "?parallel=1", b.Addr + "?parallel=1"}, ImageLayout: t.TempDir()}
	progress := &registrytest.SyncBuffer{}
	built, err := buildAll(ctx, api, todo, nil, req, keptCache{}, progress)
	t.Logf("%v\n%s", err, progress.String())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "function Fn0"))
	is.True(strings.Contains(err.Error(), "missing.txt"))
	is.True(!strings.Contains(progress.String(), "builds: lost"))
	is.Equal(len(built), 3)
	for _, name := range names[1:] {
		_, err := api.ImageInspect(ctx, name)
		is.NoErr(err)
	}
}
