package embedded

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// Two Image functions built from one Dockerfile differ as in AWS: each image carries its own
// Environment and ImageConfig. A single-file CodeUri lands alone in /var/task.
func TestRunImageConfigAndSingleFile(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	base := unitPrefix + "-base:runtime"
	enginetest.ScratchImage(t, api, base, map[string][]byte{"/etc/runtime.txt": []byte("runtime")})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml":  "# stands for the parsed template\n",
		"app/Dockerfile": "FROM " + base + "\nCOPY app.py /var/task/\nENV MODE=image\nCMD [\"app.default\"]", // no final newline
		"app/app.py":     "def orders(e, c): pass\n",
		"single/fn.py":   "def handler(e, c): pass\n",
	})
	img := func(name, cmd string) sam.Function {
		return sam.Function{
			Name: name, PackageType: sam.PackageImage, DockerContext: filepath.Join(dir, "app"), Dockerfile: "Dockerfile",
			Environment:  map[string]string{"MODE": name, "URL": "${API_URL}"},
			ImageCommand: []string{cmd}, ImageEntryPoint: []string{"/lambda-entrypoint.sh"}, ImageWorkingDirectory: "/var/task",
		}
	}
	tmpl := &sam.Template{Dir: dir, Functions: []sam.Function{
		img("Orders", "app.orders"), img("Users", "app.users"),
		{Name: "Single", PackageType: sam.PackageZip, Runtime: "python3.14", Handler: "fn.handler",
			CodeURI: filepath.Join(dir, "single/fn.py"), CodeKind: sam.CodeFile},
	}}
	names := []string{unitPrefix + "-orders:unit", unitPrefix + "-users:unit", unitPrefix + "-single:unit"}
	enginetest.Cleanup(t, api, names...)
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: unitPrefix, ImageTag: "unit", Project: unitPrefix,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_14": base},
	}
	var progress bytes.Buffer
	if _, err := runParsed(ctx, api, tmpl, nil, req, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for _, fn := range []struct{ image, mode, cmd string }{{names[0], "Orders", "app.orders"}, {names[1], "Users", "app.users"}} {
		info, err := api.ImageInspect(ctx, fn.image)
		is.NoErr(err)
		is.Equal([]string(info.Config.Cmd), []string{fn.cmd})
		is.Equal([]string(info.Config.Entrypoint), []string{"/lambda-entrypoint.sh"})
		is.Equal(info.Config.WorkingDir, "/var/task")
		is.True(slices.Contains(info.Config.Env, "MODE="+fn.mode))  // the function's Environment wins over the image's ENV
		is.True(slices.Contains(info.Config.Env, "URL=${API_URL}")) // kept literally
		got, ok := fileInImage(t, api, fn.image, "/var/task/app.py")
		is.True(ok) // the user's Dockerfile ran
		is.Equal(got, "def orders(e, c): pass\n")
	}
	got, ok := fileInImage(t, api, names[2], "/var/task/fn.py")
	is.True(ok) // a single-file CodeUri is the whole package
	is.Equal(got, "def handler(e, c): pass\n")
}
