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

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// TestBuildKitInstallsOnlyChangedLockFile: three pip functions built on BuildKit, then all
// built again after one function's requirements.txt changed: only that function's install step
// runs (with the pip cache mounted), every other step of every image comes from the cache.
func TestBuildKitInstallsOnlyChangedLockFile(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	standIn := builderstest.StandIn(t, api, builderstest.StandInPackages...)
	builderstest.CleanupDescendants(t, api, standIn)
	dir := t.TempDir()
	prefix := unitPrefix + "-lock"
	var fns []sam.Function
	var names []string
	for i := range 3 {
		writeFiles(t, dir, map[string]string{
			fmt.Sprintf("fn%d/requirements.txt", i): fmt.Sprintf("# %s fn%d: no dependencies yet %s\n", prefix, i, time.Now()),
			fmt.Sprintf("fn%d/app.py", i):           "def handler(e, c): return 1\n",
		})
		fns = append(fns, sam.Function{Name: fmt.Sprintf("Fn%d", i), PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler",
			CodeURI: filepath.Join(dir, fmt.Sprintf("fn%d", i)), CodeKind: sam.CodeDir})
		names = append(names, fmt.Sprintf("%s-fn%d:unit", prefix, i))
	}
	enginetest.Cleanup(t, api, names...)
	tmpl := &sam.Template{Dir: dir, Functions: fns}
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: prefix, ImageTag: "unit", Project: "lock", Builder: BuilderBuildKit,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": standIn, "BUILD_IMAGE_PYTHON3_12": standIn, "PIP_NO_INDEX": "1"},
	}
	installs := func() map[string][]string {
		t.Helper()
		req.CodeFiles = nil
		codeFiles, err := ScanCode(tmpl)
		is.NoErr(err)
		req.CodeFiles = codeFiles
		todo := plannedBuilds(t, tmpl, req)
		for _, b := range todo {
			is.True(strings.Contains(b.DockerfileTextBuildKit, "RUN --mount=type=cache,id=dindbundler-pip,target=/var/cache/dindbundler/pip,sharing=locked "))
		}
		built, err := buildAll(ctx, api, todo, nil, req, keptCache{}, io.Discard)
		is.NoErr(err)
		ran := map[string][]string{}
		for name, b := range built {
			for _, s := range b.Steps.Ran {
				if strings.Contains(s.Name, "pip install") {
					ran[name] = append(ran[name], s.Name)
				}
			}
		}
		return ran
	}
	first := installs()
	is.Equal(len(first), 3) // each function installs its own requirements once
	// New content (BuildKit keeps the steps of earlier runs of this test by content).
	is.NoErr(os.WriteFile(filepath.Join(dir, "fn1", "requirements.txt"), []byte(fmt.Sprintf("# %s fn1 changed %s\n", prefix, time.Now())), 0o644))
	second := installs()
	t.Logf("after fn1's requirements.txt changed, install steps ran: %v", second)
	is.Equal(len(second), 1)
	is.Equal(len(second[names[1]]), 1) // only the changed function's install ran
}
