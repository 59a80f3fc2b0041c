package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
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
	todo, names := sleeperBuilds(t, api, "kill", 6, 5)
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
	out := progress.String()
	is.Equal(strings.Count(out, "builds: lost"), 1)
	is.True(strings.Contains(out, "builds: lost BUILDKIT_HOST="+victim.Addr+" mid-run"))
	// Its builds under way say they moved, after the line naming it; none says it failed.
	moved := "moved: BUILDKIT_HOST=" + victim.Addr + " was lost; requeued for another builder"
	is.Equal(strings.Count(out, moved), 2) // its two slots were busy
	is.True(strings.Index(out, "builds: lost") < strings.Index(out, moved))
	is.True(!strings.Contains(out, "failed after"))
	for i, name := range names {
		is.Equal(built[name].Where, "BUILDKIT_HOST="+survivor.Addr) // nothing finished on the victim
		got, _ := fileInImage(t, api, name, "/n.txt")
		is.Equal(got, fmt.Sprintf("%d\n", i))
	}
}

// sleeperBuilds are n images FROM scratch whose one RUN step sleeps seconds (a static program,
// buildkittest.Sleeper), each with a file /n.txt holding its number; named after what, removed
// from api when the test ends.
func sleeperBuilds(t *testing.T, api client.APIClient, what string, n, seconds int) ([]pendingBuild, []string) {
	t.Helper()
	sleeper := buildkittest.Sleeper(t)
	var todo []pendingBuild
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%s%d:unit", unitPrefix, what, i)
		names = append(names, name)
		todo = append(todo, pendingBuild{ImageBuild: ImageBuild{
			Name: name, Kind: "function", For: fmt.Sprintf("Fn%d", i), Dockerfile: "Dockerfile",
			DockerfileText: fmt.Sprintf("FROM scratch\nCOPY sleep /sleep\nCOPY n.txt /n.txt\nRUN [\"/sleep\", \"%d\"]\nCMD [\"/sleep\", \"0\"]\n", seconds),
			Context: []ContextEntry{
				{Kind: EntryText, Target: "n.txt", Text: fmt.Sprintf("%d\n", i)},
				{Kind: EntryFile, Target: "sleep", Source: sleeper},
			},
		}})
	}
	enginetest.Cleanup(t, api, names...)
	return todo, names
}

// TestBuildersSkipThoseThatDoNotAnswer: BUILDERS lists a socket nobody listens on and a
// buildkitd: the first is named once at the start and left out, the images are built on the
// other. With only dead entries the run fails before building, naming each.
func TestBuildersSkipThoseThatDoNotAnswer(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	live := buildkittest.Start(t, bin)
	dead := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	todo, names := sleeperBuilds(t, api, "dead", 3, 0)
	req := Request{Builders: []string{dead + "?parallel=2", live.Addr}, ImageLayout: t.TempDir()}
	start := time.Now()
	built, progress := buildPlanned(t, ctx, api, todo, req)
	t.Logf("one dead, one live builder: %s\n%s", time.Since(start).Round(time.Millisecond), progress)
	is.Equal(strings.Count(progress, "does not answer"), 1)
	is.True(strings.Contains(progress, "builds: builder "+dead+" does not answer: "))
	is.True(strings.Contains(progress, "; building on the others\n"))
	is.True(strings.Contains(progress, "builds: on BUILDKIT_HOST="+live.Addr+", 3 at a time"))
	for i, name := range names {
		is.Equal(built[name].Where, "BUILDKIT_HOST="+live.Addr)
		got, _ := fileInImage(t, api, name, "/n.txt")
		is.Equal(got, fmt.Sprintf("%d\n", i))
	}

	other := "tcp://127.0.0.1:1" // refused
	req.Builders = []string{dead, other}
	var out bytes.Buffer
	start = time.Now()
	_, err := buildAll(ctx, api, todo, nil, req, keptCache{}, &out)
	t.Logf("two dead builders: %s: %v\n%s", time.Since(start).Round(time.Millisecond), err, out.String())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "BUILDERS: no builder answers"))
	is.True(strings.Contains(err.Error(), dead+": "))
	is.True(strings.Contains(err.Error(), other+": "))
	is.Equal(out.String(), "") // no "building on the others": there are none
}

// TestBuildersOtherEngines: each matrix engine of TEST_ENGINES is a builder (docker+tcp://…)
// for the host engine: its own BuildKit builds, the images arrive in the host engine and run, and
// the progress names the builder. On the classic image store the images are stored there and
// saved from there into the run's OCI layout (the progress says what crossed); on the containerd
// store they come back as archives, and BUILD_CACHE works. On the classic store BUILD_CACHE is
// refused at the start, naming the builder.
func TestBuildersOtherEngines(t *testing.T) {
	api := enginetest.Client(t)
	for _, e := range enginetest.Engines(t) {
		if !e.Matrix() {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			builder := e.Client(t)
			entry := "docker+" + builder.DaemonHost()
			todo, names := sleeperBuilds(t, api, "eng"+strings.ReplaceAll(e.Name, "-", ""), 3, 1)
			enginetest.Cleanup(t, builder, names...)
			req := Request{Builders: []string{entry + "?parallel=2"}, ImageLayout: t.TempDir()}
			if e.Containerd() {
				req.BuildCache = "type=local,dest=" + t.TempDir()
			}
			start := time.Now()
			built, progress := buildPlanned(t, ctx, api, todo, req)
			t.Logf("%s builds for the host engine: 3 images in %s\n%s", e.Name, time.Since(start).Round(time.Millisecond), progress)
			is.True(strings.Contains(progress, "builds: on "+entry+", 2 at a time"))
			for i, name := range names {
				is.Equal(built[name].Where, entry)
				info, err := api.ImageInspect(ctx, name)
				is.NoErr(err)
				is.Equal(info.ID, built[name].ID)
				got, _ := fileInImage(t, api, name, "/n.txt")
				is.Equal(got, fmt.Sprintf("%d\n", i))
				out, code := builderstest.Run(t, api, name, "/sleep", "0")
				is.Equal(code, int64(0)) // it runs in the host engine
				is.Equal(out, "")
			}
			if e.Containerd() {
				is.True(fileExists(filepath.Join(cacheDirOf(req.BuildCache), "_blobs"))) // the cache came back
				return
			}
			is.True(strings.Contains(progress, names[0]+": saved ")) // the line of what crossed
			is.True(strings.Contains(progress, " from "+entry+" ("))
			req.BuildCache = "type=local,dest=" + t.TempDir()
			_, err := buildAll(ctx, api, todo, nil, req, keptCache{}, io.Discard)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "BUILD_CACHE is set, but builder "+entry+" cannot export or import a build cache"))
			is.True(strings.Contains(err.Error(), "enable the containerd image store on that engine"))
		})
	}
}

// TestBuildersOtherEngineOverSSH: a docker+ssh:// entry reaches another engine as `docker -H
// ssh://` does (the remote side's docker CLI runs `system dial-stdio`, here pointed at the first
// matrix engine of TEST_ENGINES through a loopback sshd); its BuildKit builds for the host engine.
func TestBuildersOtherEngineOverSSH(t *testing.T) {
	var builderEngine *enginetest.Engine
	for _, e := range enginetest.Engines(t) {
		if e.Matrix() {
			builderEngine = &e
			break
		}
	}
	if builderEngine == nil {
		t.Skip("needs a matrix engine in " + enginetest.EnginesEnv + " to build on")
	}
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	builder := builderEngine.Client(t)
	// The remote side's docker CLI talks to the matrix engine instead of this machine's socket.
	docker, err := exec.LookPath("docker")
	is.NoErr(err)
	bin := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/sh\nDOCKER_HOST="+builder.DaemonHost()+" exec "+docker+" \"$@\"\n"), 0o755))
	entry := "docker+" + enginetest.SSHHost(t, bin)
	todo, names := sleeperBuilds(t, api, "ssh", 2, 0)
	enginetest.Cleanup(t, builder, names...)
	start := time.Now()
	built, progress := buildPlanned(t, ctx, api, todo, Request{Builders: []string{entry}, ImageLayout: t.TempDir()})
	t.Logf("%s over ssh builds for the host engine: 2 images in %s\n%s", builderEngine.Name, time.Since(start).Round(time.Millisecond), progress)
	is.True(strings.Contains(progress, "builds: on "+entry+", 2 at a time"))
	for i, name := range names {
		is.Equal(built[name].Where, entry)
		got, _ := fileInImage(t, api, name, "/n.txt")
		is.Equal(got, fmt.Sprintf("%d\n", i))
		_, err := builder.ImageInspect(ctx, name)
		if builderEngine.Containerd() {
			is.True(err != nil) // came back as an archive: never stored there
		} else {
			is.NoErr(err) // built into that engine's store, then copied
		}
	}
}

func cacheDirOf(setting string) string { _, dir, _ := strings.Cut(setting, "dest="); return dir }

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
