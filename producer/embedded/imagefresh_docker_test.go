package embedded

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
)

// TestRunRebuildsOnlyChangedImages: the function, not the template, is the unit of work. After
// one function's code changes only its image is built again; the others keep their IDs and
// their manifest entries; an image removed from the engine is built again; FORCE builds all.
func TestRunRebuildsOnlyChangedImages(t *testing.T) {
	for _, builder := range []string{BuilderBuildKit, BuilderClassic} {
		t.Run(builder, func(t *testing.T) { rebuildsOnlyChangedImages(t, builder) })
	}
}

func rebuildsOnlyChangedImages(t *testing.T, builder string) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prefix := unitPrefix + "-fresh" + builder
	runtimeBase := prefix + "-base:runtime"
	enginetest.ScratchImage(t, api, runtimeBase, map[string][]byte{"/etc/runtime.txt": []byte(prefix + time.Now().String())})

	dir := t.TempDir()
	const n = 4
	var fns []sam.Function
	var names []string
	for i := range n {
		writeFiles(t, dir, map[string]string{fmt.Sprintf("fn%d/app.py", i): fmt.Sprintf("N = %d\n", i)})
		fns = append(fns, sam.Function{Name: fmt.Sprintf("Fn%d", i), PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler",
			CodeURI: filepath.Join(dir, fmt.Sprintf("fn%d", i)), CodeKind: sam.CodeDir})
		names = append(names, fmt.Sprintf("%s-fn%d:unit", prefix, i))
	}
	writeFiles(t, dir, map[string]string{"template.yaml": "# stands for the parsed template\n"})
	enginetest.Cleanup(t, api, names...)
	tmpl := &sam.Template{Dir: dir, Functions: fns}
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: prefix, ImageTag: "unit", Project: "fresh", Builder: builder,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": runtimeBase},
	}
	counting := enginetest.NewCounting(api)
	builds := 0 // images the last run built, by the builder's own closing lines
	run := func(req Request) (map[string]string, string) {
		t.Helper()
		counting.Reset()
		var progress bytes.Buffer
		m, err := runParsed(ctx, counting, tmpl, nil, req, &progress)
		builds = strings.Count(progress.String(), ": built in ")
		if err != nil {
			t.Fatalf("%v\n%s", err, progress.String())
		}
		digests := map[string]string{}
		for _, img := range m.Images {
			digests[img.Name] = img.Digest
		}
		return digests, progress.String()
	}

	first, _ := run(req)
	is.Equal(int64(builds), int64(n)) // the first run builds every image

	start := time.Now()
	again, out := run(req)
	t.Logf("nothing changed: %s", time.Since(start).Round(time.Millisecond))
	is.Equal(int64(builds), int64(0)) // nothing changed: no build
	is.Equal(again, first)
	is.True(bytes.Contains([]byte(out), []byte("images: all 4 unchanged")))

	is.NoErr(os.WriteFile(filepath.Join(dir, "fn2", "app.py"), []byte("N = 'changed'\n"), 0o644))
	start = time.Now()
	changed, out := run(req)
	t.Logf("one function changed: %s\n%s", time.Since(start).Round(time.Millisecond), out)
	is.Equal(int64(builds), int64(1)) // only the changed function is built
	is.True(bytes.Contains([]byte(out), []byte("fn2/app.py changed")))
	for i, name := range names {
		is.Equal(changed[name] != first[name], i == 2) // the others keep their image
	}
	enginetest.Cleanup(t, api, first[names[2]]) // the replaced image, before its base
	got, _ := fileInImage(t, api, names[2], "/var/task/app.py")
	is.Equal(got, "N = 'changed'\n")

	_, err := api.ImageRemove(ctx, names[0], image.RemoveOptions{Force: true})
	is.NoErr(err)
	run(req)
	is.Equal(int64(builds), int64(1)) // the image the engine lost is built again

	forced := req
	forced.Force = true
	run(forced)
	is.Equal(int64(builds), int64(n)) // FORCE builds every image
}
