package dindtest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// dindStyleTag is the test kit's stand-in for the official docker:28-dind (testdata/dind-style),
// built on the host engine for the length of TestInnerEngines.
const dindStyleTag = "inner-dind-style:forky"

// innerCell is one inner engine a bundle boots on, besides the default base with its classic
// store (TestBundleRuntime).
type innerCell struct {
	name string // in the timing line and the names of the cell's containers and images
	// base makes the cell's DinD base available on e and returns its tag.
	base  func(t *testing.T, ctx context.Context, e enginetest.Engine) string
	env   []string // for the bundle container
	store string   // the image store the boot log must name
	// how the entrypoint starts dockerd, as its log says
	start string
	// refusals: also boot bundles that must refuse to start (verification differs by store)
	refusals bool
	// refused: settings the cell's bundle must refuse to boot with
	refused []refusedEnv
	// daemonJSON: also check that a daemon.json of the user's wins over DOCKERD_IMAGE_STORE
	daemonJSON bool
}

// refusedEnv is a setting a bundle must refuse to boot with: its log has every want and none of
// not.
type refusedEnv struct {
	name      string // of the container and volume
	env       []string
	want, not []string
}

var innerCells = []innerCell{
	{
		name: "bookworm-20.10",
		base: func(t *testing.T, ctx context.Context, e enginetest.Engine) string {
			return ensureBase(t, ctx, e, "bookworm")
		},
		store: "classic",
		start: "starting dockerd\n",
		refused: []refusedEnv{{
			name: "oldstore", env: []string{"DOCKERD_IMAGE_STORE=containerd"},
			want: []string{"DOCKERD_IMAGE_STORE=containerd, but Engine 20.10", "uses the classic image store", "dockerd stopped"},
			not:  []string{"loading images"}, // nothing loaded into the wrong store
		}},
	},
	{
		name: "dind-style-28.5",
		base: func(t *testing.T, ctx context.Context, e enginetest.Engine) string {
			e.FromHost(t, dindStyleTag)
			return dindStyleTag
		},
		store: "classic",
		start: "starting dockerd (docker:dind entrypoint)",
	},
	{
		// What docker:29-dind does by default: Engine 29 starts on the containerd image store.
		name: "dind-style-28.5-containerd",
		base: func(t *testing.T, ctx context.Context, e enginetest.Engine) string {
			e.FromHost(t, dindStyleTag)
			return dindStyleTag
		},
		env:      []string{"DOCKERD_IMAGE_STORE=containerd"},
		store:    "containerd",
		start:    "starting dockerd (docker:dind entrypoint)",
		refusals: true, // containerd 2.1's content store, where the check reads the config
	},
	{
		name:       "trixie-26.1-containerd",
		base:       func(t *testing.T, ctx context.Context, e enginetest.Engine) string { return ensureBase(t, ctx, e, "") },
		env:        []string{"DOCKERD_IMAGE_STORE=containerd"},
		store:      "containerd",
		start:      "starting dockerd\n",
		refusals:   true,
		daemonJSON: true,
		refused: []refusedEnv{{
			name: "badstore", env: []string{"DOCKERD_IMAGE_STORE=zfs"},
			want: []string{"DOCKERD_IMAGE_STORE=zfs: unknown image store; use containerd or classic"},
			not:  []string{"starting dockerd"}, // refused before dockerd starts
		}, {
			// The user's own configuration file wins; the message says what to put there.
			name: "configfile", env: []string{"DOCKERD_IMAGE_STORE=containerd", "DOCKERD_ARGS=--config-file /etc/mine.json"},
			want: []string{`DOCKERD_ARGS names a --config-file: put "features": {"containerd-snapshotter": true} into that file`},
			not:  []string{"starting dockerd"},
		}},
	},
}

// TestInnerEngines boots a bundle on each inner engine of the matrix but the default (Engine
// 20.10 from the bookworm base, a docker:dind-style base with Engine 28.5 on either image store,
// Engine 26.1 with the containerd image store), on every outer engine: the service answers, the images are verified,
// a restart with the same volume skips the load, `docker stop` stops the stack, then dockerd,
// and exits 0. Each cell logs one "cell OUTER × INNER: build …, first boot …, restart …, stop …"
// line.
func TestInnerEngines(t *testing.T) {
	buildDindStyle(t)
	t.Run("the docker:dind stand-in serves TLS on 2376 by default", dindStyleServesTLS)
	enginetest.Each(t, innerEnginesOn)
}

// dindStyleServesTLS runs the stand-in as docker:dind users do (no arguments, on the host
// engine): its entrypoint generates a CA, server and client certificates under /certs and dockerd
// answers on tcp 2376 to a client holding the client certificate, so the stand-in has the
// official image's interface and not just its file names.
func dindStyleServesTLS(t *testing.T) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	api := enginetest.Client(t)
	c := dindtest.Run(t, api, engine.RunSpec{Name: "inner-run-dind-style", Image: dindStyleTag, Volume: "inner-vol-dind-style"})
	probe := "DOCKER_HOST=tcp://localhost:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/certs/client docker version --format '{{.Server.Version}}'"
	for {
		out, code, err := engine.Exec(ctx, api, c.ID, "sh", "-c", probe)
		is.NoErr(err)
		if code == 0 {
			is.True(strings.HasPrefix(strings.TrimSpace(out), "28.5"))
			return
		}
		select {
		case <-ctx.Done():
			logs, _ := engine.Logs(context.Background(), api, c.ID)
			t.Fatalf("dockerd of %s did not answer with TLS on 2376 (last: %s); container log:\n%s", dindStyleTag, out, logs)
		case <-time.After(time.Second):
		}
	}
}

func innerEnginesOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	im := buildServiceImages(t, api, "inner")
	for _, cell := range innerCells {
		t.Run(cell.name, func(t *testing.T) {
			is := is.New(t)
			b := cell.base(t, ctx, e)
			buildAt := time.Now()
			img := buildBundle(t, ctx, api, "inner-bundle:"+cell.name, b, im.okSpec("zst"))
			built := time.Since(buildAt)

			start := time.Now()
			c := dindtest.Run(t, api, engine.RunSpec{
				Name: "inner-run-" + cell.name, Image: img, Volume: "inner-vol-" + cell.name,
				Ports: []string{"8080/tcp"}, Env: cell.env,
			})
			addr := hostAddr(t, ctx, e, api, c.ID)
			is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+addr+"/"), greeting)
			firstBoot := time.Since(start)
			logs, err := engine.Logs(ctx, api, c.ID)
			is.NoErr(err)
			is.True(strings.Contains(logs, cell.start))
			is.True(strings.Contains(logs, ", "+cell.store+" image store, ")) // the boot log names the store
			is.True(strings.Contains(logs, "images verified"))
			if cell.store == "containerd" {
				// The verification had to read the config from the manifest: the containerd
				// store's image ID is the manifest digest, not images.txt's config digest.
				out, code, err := engine.Exec(ctx, api, c.ID, "sh", "-c",
					"docker image inspect --format '{{.Id}}' "+im.echo+"; awk 'NF == 3 { print $1 }' /app/bundle/images.txt")
				is.NoErr(err)
				is.Equal(code, 0)
				ids := strings.Fields(out)
				is.Equal(len(ids), 2)
				is.True(ids[0] != ids[1])
			}

			restart := restartSkipsLoad(t, ctx, e, api, c.ID)
			stop, logs := stopsCleanly(t, ctx, api, c.ID)
			t.Logf("container log:\n%s", logs)
			r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
			t.Logf("cell %s × %s: build %s, first boot %s, restart %s, stop %s", e.Name, cell.name, r(built), r(firstBoot), r(restart), r(stop))

			if cell.refusals {
				t.Run("missing or different image fails naming each", func(t *testing.T) {
					refusesWrongImages(t, ctx, api, b, im, "inner-"+cell.name, cell.env)
				})
			}
			if cell.daemonJSON {
				t.Run("a daemon.json of the user's is respected", func(t *testing.T) {
					respectsDaemonJSON(t, ctx, api, img, "inner-"+cell.name)
				})
			}
			for _, f := range cell.refused {
				t.Run(strings.Join(f.env, " "), func(t *testing.T) {
					is := is.New(t)
					logs := failedBoot(t, ctx, api, engine.RunSpec{
						Name: "inner-run-" + f.name, Image: img, Volume: "inner-vol-" + f.name, Env: f.env,
					}, 2*time.Minute)
					for _, w := range f.want {
						is.True(strings.Contains(logs, w))
					}
					for _, n := range f.not {
						is.True(!strings.Contains(logs, n))
					}
				})
			}
		})
	}

}

// respectsDaemonJSON boots img with an /etc/docker/daemon.json selecting the containerd store,
// as a user's mount would bring it (here a layer on top, built as prefix-bundle:daemonjson):
// DOCKERD_IMAGE_STORE=classic is refused, saying what to put into that file; =containerd, which
// the file already says, boots on the file alone.
func respectsDaemonJSON(t *testing.T, ctx context.Context, api client.APIClient, img, prefix string) {
	t.Helper()
	is := is.New(t)
	buildCtx, err := tarOf([]ctxFile{
		{name: "Dockerfile", data: []byte("FROM " + img + "\nCOPY daemon.json /etc/docker/daemon.json\n"), mode: 0o644},
		{name: "daemon.json", data: []byte("{\n  \"features\": { \"containerd-snapshotter\": true }\n}\n"), mode: 0o644},
	})
	is.NoErr(err)
	tag := prefix + "-bundle:daemonjson"
	enginetest.Cleanup(t, api, tag)
	var out bytes.Buffer
	if _, err := engine.Build(ctx, api, bytes.NewReader(buildCtx), engine.BuildOptions{Tag: tag}, &out); err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, out.String())
	}

	logs := failedBoot(t, ctx, api, engine.RunSpec{
		Name: prefix + "-run-daemonjson-classic", Image: tag, Volume: prefix + "-vol-daemonjson-classic",
		Env: []string{"DOCKERD_IMAGE_STORE=classic"},
	}, 2*time.Minute)
	is.True(strings.Contains(logs, `but /etc/docker/daemon.json exists and dockerd reads only that file: put "features": {"containerd-snapshotter": false} into it`))
	is.True(!strings.Contains(logs, "starting dockerd"))

	c := dindtest.Run(t, api, engine.RunSpec{
		Name: prefix + "-run-daemonjson", Image: tag, Volume: prefix + "-vol-daemonjson",
		Env: []string{"DOCKERD_IMAGE_STORE=containerd"},
	})
	logs, err = engine.WaitForLog(ctx, api, c.ID, "images verified", 1)
	is.NoErr(err)
	is.True(strings.Contains(logs, ", containerd image store, "))
}

// buildDindStyle builds dindStyleTag on the host engine from testdata/dind-style, FROM the
// forky base (Engine 28.5, built once per machine like every base), and removes it when the
// test ends. The matrix engines get it with FromHost.
func buildDindStyle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	host := enginetest.Client(t)
	forky := base.TagFor("forky")
	if _, err := base.Ensure(ctx, host, base.Options{Suite: "forky", Progress: logWriter{t}}); err != nil {
		t.Fatal(err)
	}
	var files []ctxFile
	for _, n := range []string{"Dockerfile", "dockerd-entrypoint.sh", "dind"} {
		data, err := os.ReadFile(filepath.Join("testdata", "dind-style", n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, ctxFile{name: n, data: data, mode: 0o755})
	}
	buildCtx, err := tarOf(files)
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Cleanup(t, host, dindStyleTag)
	var out bytes.Buffer
	start := time.Now()
	if _, err := engine.Build(ctx, host, bytes.NewReader(buildCtx), engine.BuildOptions{
		Tag: dindStyleTag, BuildArgs: map[string]string{"FORKY_BASE": forky},
	}, &out); err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, out.String())
	}
	t.Logf("built %s in %s", dindStyleTag, time.Since(start).Round(100*time.Millisecond))
}
