package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/docker/docker/client"
	"github.com/matryer/is"
)

// buildKitTemplate is three Zip functions on a scratch runtime base, two of them sharing one
// zipped layer: their "COPY layers/1/ /opt/" is one step for BuildKit.
func buildKitTemplate(t *testing.T, api client.APIClient, prefix string) (*sam.Template, Request, []string) {
	t.Helper()
	runtimeBase := prefix + "-base:runtime"
	// A base of its own: BuildKit's cache keeps steps of an earlier run whose base (same ID,
	// another name) is gone, and the engine's BuildKit then looks that name up again.
	enginetest.ScratchImage(t, api, runtimeBase, map[string][]byte{"/etc/runtime.txt": []byte(prefix + time.Now().String())})
	dir := t.TempDir()
	makeZip(t, filepath.Join(dir, "layer.zip"), []string{"python/lib.py"}, map[string]string{"python/lib.py": "LIB = 1\n"})
	layer := []sam.Layer{{LogicalID: "Lib", ContentURI: filepath.Join(dir, "layer.zip")}}
	var fns []sam.Function
	var names []string
	for i := range 3 {
		writeFiles(t, dir, map[string]string{fmt.Sprintf("fn%d/app.py", i): fmt.Sprintf("N = %d\n", i)})
		fn := sam.Function{Name: fmt.Sprintf("Fn%d", i), PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler",
			CodeURI: filepath.Join(dir, fmt.Sprintf("fn%d", i)), CodeKind: sam.CodeDir, Environment: map[string]string{"PLACEHOLDER": "${VAR}"}}
		if i < 2 {
			fn.Layers = layer
		}
		fns = append(fns, fn)
		names = append(names, fmt.Sprintf("%s-fn%d:unit", prefix, i))
	}
	writeFiles(t, dir, map[string]string{"template.yaml": "# stands for the parsed template\n"})
	enginetest.Cleanup(t, api, names...)
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: prefix, ImageTag: "unit", Project: "bk",
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": runtimeBase},
	}
	return &sam.Template{Dir: dir, Functions: fns}, req, names
}

// TestRunOnBuildKit builds a template's functions on each engine: on BuildKit (every engine
// that has it) concurrently, the shared layer step once; the images land in the engine under
// their names with their labels, files and environment; on an engine without BuildKit the
// classic builder builds them, and the output says so once.
func TestRunOnBuildKit(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-bk")
		start := time.Now()
		built, progress := buildPlanned(t, ctx, api, plannedBuilds(t, tmpl, req), req)
		t.Logf("%s: 3 images in %s\n%s", e.Name, time.Since(start).Round(time.Millisecond), progress)
		onBuildKit := strings.Contains(progress, "builds: on the engine's BuildKit, 3 at a time")
		if !onBuildKit {
			is.Equal(e.Name, "host") // only the host's Engine 20.10 may lack BuildKit
			is.Equal(strings.Count(progress, "builds: the classic builder"), 1)
		}
		is.Equal(len(built), 3)
		for i, name := range names {
			info, err := api.ImageInspect(ctx, name)
			is.NoErr(err)
			is.Equal(info.ID, built[name].ID)
			is.Equal(info.Config.Labels["com.esb.function"], fmt.Sprintf("Fn%d", i))
			is.Equal(info.Config.Labels["com.esb.kind"], "function")
			is.True(strings.Contains(strings.Join(info.Config.Env, "\n"), "PLACEHOLDER=${VAR}"))
			is.Equal([]string(info.Config.Cmd), []string{"app.handler"})
			got, _ := fileInImage(t, api, name, "/var/task/app.py")
			is.Equal(got, fmt.Sprintf("N = %d\n", i))
		}
		got, _ := fileInImage(t, api, names[1], "/opt/python/lib.py")
		is.Equal(got, "LIB = 1\n")
		if !onBuildKit {
			return
		}
		// The layer's COPY is the same step in both images: BuildKit runs it once when the two
		// solves meet in time (the other build takes it from the cache, or shares the run: same
		// vertex, same start). Whether they meet is BuildKit's scheduling — seen to run twice on
		// the containerd store in one CI run of three — so the count is reported, not required.
		runs := map[string]bool{}
		for _, name := range names[:2] {
			for _, step := range built[name].Steps.Ran {
				if strings.Contains(step.Name, "COPY layers/1/ /opt/") {
					runs[step.Vertex+step.Started.String()] = true
				}
			}
		}
		is.True(len(runs) <= 2)
		t.Logf("%s: the shared layer step ran %d time(s) for 2 images", e.Name, len(runs))
	})
}

// noBuildKit is an engine whose API has no BuildKit endpoint, as Engine 20.10 with BuildKit
// switched off answers /grpc: everything else is the real engine.
type noBuildKit struct{ *engine.Engine }

func (noBuildKit) DialHijack(context.Context, string, string, map[string][]string) (net.Conn, error) {
	return nil, errors.New("Error response from daemon: page not found")
}

// TestRunFallsBackToClassic: without BuildKit the classic builder builds every image, the
// output says so once, and DEPLOY_BUILDER=buildkit refuses instead.
func TestRunFallsBackToClassic(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-classic")
	var notes []string
	req.Notes = func(line string) { notes = append(notes, line) }
	var progress bytes.Buffer
	m, err := runParsed(ctx, noBuildKit{api}, tmpl, nil, req, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	is.Equal(len(notes), 1)
	is.True(strings.HasPrefix(notes[0], "builds: the classic builder, one image at a time (the engine's BuildKit does not answer"))
	is.True(strings.Contains(progress.String(), "Step 1/")) // the classic builder's steps
	for _, name := range names {
		info, err := api.ImageInspect(ctx, name)
		is.NoErr(err)
		is.True(slices.Contains(m.Names(), name))
		is.Equal(info.Config.Labels["com.esb.kind"], "function")
	}

	req.Builder, req.Force = BuilderBuildKit, true
	_, err = runParsed(ctx, noBuildKit{api}, tmpl, nil, req, io.Discard)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "DEPLOY_BUILDER asks for BuildKit")) // names the setting
}

// plannedBuilds plans tmpl for req: every image of the plan, to build.
func plannedBuilds(t *testing.T, tmpl *sam.Template, req Request) []pendingBuild {
	t.Helper()
	plan, err := Plan(tmpl, nil, req)
	if err != nil {
		t.Fatal(err)
	}
	var todo []pendingBuild
	for _, b := range plan.Images {
		todo = append(todo, pendingBuild{ImageBuild: b})
	}
	return todo
}

// buildPlanned builds todo as Deploy does and returns the images and the progress it showed;
// a failure shows the progress.
func buildPlanned(t *testing.T, ctx context.Context, api client.APIClient, todo []pendingBuild, req Request) (map[string]builtImage, string) {
	t.Helper()
	var progress bytes.Buffer
	built, err := buildAll(ctx, api, todo, nil, req, keptCache{}, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	return built, progress.String()
}
