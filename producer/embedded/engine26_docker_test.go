package embedded

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// TestDeployOnEngine26BuildKit runs Deploy's builds on Engine 26.1's own BuildKit (Debian
// trixie's docker.io: the matrix flavour 26-classic, asked for by name whatever TEST_ENGINES
// says, as CI's default leaves it out): two pip functions, one installing its requirements with
// pip's cache mounted. DEPLOY_BUILDER=buildkit refuses the classic fallback, so the images are
// BuildKit's; they land in that engine under their names, and one runs its handler there.
func TestDeployOnEngine26BuildKit(t *testing.T) {
	enginetest.SkipWithoutDocker(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	e := enginetest.Named(t, "26-classic")
	api := e.Client(t)
	version, err := api.ServerVersion(ctx)
	is.NoErr(err)
	is.True(strings.HasPrefix(version.Version, "26.1.")) // the engine asked for
	started := time.Now()
	// The stand-in (python3 and pip) is made on the host engine and copied over: the nested
	// engine reaches no registry.
	standIn := builderstest.StandIn(t, enginetest.Client(t), "python3", "python3-pip")
	e.FromHost(t, standIn)
	copied := time.Now()

	dir := t.TempDir()
	prefix := unitPrefix + "-e26"
	writeFiles(t, dir, map[string]string{
		"fn0/requirements.txt": fmt.Sprintf("# %s: no dependencies, the install step still runs %s\n", prefix, time.Now()),
		"fn0/app.py":           "def handler(e, c): return 'fn0 on 26.1'\n",
		"fn1/app.py":           "def handler(e, c): return 'fn1 on 26.1'\n",
		"template.yaml":        "# stands for the parsed template\n",
	})
	var fns []sam.Function
	var names []string
	for i := range 2 {
		fns = append(fns, sam.Function{Name: fmt.Sprintf("Fn%d", i), PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler",
			CodeURI: filepath.Join(dir, fmt.Sprintf("fn%d", i)), CodeKind: sam.CodeDir})
		names = append(names, fmt.Sprintf("%s-fn%d:unit", prefix, i))
	}
	tmpl := &sam.Template{Dir: dir, Functions: fns}
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: prefix, ImageTag: "unit", Project: "e26", Builder: BuilderBuildKit,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": standIn, "BUILD_IMAGE_PYTHON3_12": standIn, "PIP_NO_INDEX": "1"},
	}
	codeFiles, err := ScanCode(tmpl)
	is.NoErr(err)
	req.CodeFiles = codeFiles
	mounts := 0
	for _, b := range plannedBuilds(t, tmpl, req) {
		if strings.Contains(b.DockerfileTextBuildKit, "RUN --mount=type=cache,id=dindbundler-pip,") {
			mounts++
		}
	}
	is.Equal(mounts, 1) // fn0's install, with pip's cache mounted

	var progress bytes.Buffer
	m, err := runParsed(ctx, api, tmpl, nil, req, &progress)
	if err != nil {
		t.Fatalf("deploy on Engine 26.1: %v\n%s", err, progress.String())
	}
	built := time.Now()
	out := progress.String()
	t.Logf("deploy output:\n%s", out)
	is.True(strings.Contains(out, "builds: on the engine's BuildKit")) // not the classic builder
	is.True(!strings.Contains(out, "builds: the classic builder"))
	for _, name := range names {
		is.True(slices.Contains(m.Names(), name))
		info, err := api.ImageInspect(ctx, name)
		is.NoErr(err)
		is.Equal(info.Config.Labels["com.esb.kind"], "function")
	}
	got, code := builderstest.Run(t, api, names[0], "python3", "-c", "import sys; sys.path.insert(0, '/var/task'); import app; print(app.handler(None, None))")
	is.Equal(code, int64(0))
	is.Equal(strings.TrimSpace(got), "fn0 on 26.1")
	t.Logf("Engine %s: engine up in %.1fs, stand-in made and copied in %.1fs, 2 images on its BuildKit in %.1fs, run in %.1fs; %.1fs in all",
		version.Version, started.Sub(t0).Seconds(), copied.Sub(started).Seconds(), built.Sub(copied).Seconds(), time.Since(built).Seconds(), time.Since(t0).Seconds())
}
