package embedded_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/embedded"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/docker/docker/client"
	"github.com/matryer/is"
)

// listInImage returns the files under dir in an image (relative paths, directories with a
// trailing /).
func listInImage(t *testing.T, api client.APIClient, ref, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for name, f := range enginetest.ImageFiles(t, api, ref, dir) {
		rel := strings.TrimPrefix(name, strings.TrimSuffix(dir, "/")+"/")
		if rel == name {
			continue // dir itself
		}
		if f.Dir {
			rel += "/"
		}
		files[rel] = f.Content
	}
	return files
}

// exampleDir is the example stack of this repository.
func exampleDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "examples", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRunExample runs the producer on the example stack after demo.Prepare and checks every
// image it records against the engine.
func TestRunExample(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := exampleDir(t)
	repoRoot := filepath.Dir(filepath.Dir(dir))

	start := time.Now()
	var progress bytes.Buffer
	env, err := demo.Prepare(ctx, api, dir, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("demo.Prepare: %s\n%s", time.Since(start).Round(time.Millisecond), progress.String())

	dotenv, err := config.ReadEnvFile(filepath.Join(dir, ".env"))
	is.NoErr(err)
	// This checkout's names: another checkout may run this test on the same engine at once.
	prefix := enginetest.Unique("samdeploytest")
	vars := map[string]string{"EXAMPLE_REGISTRY": prefix + ".local"}
	for k, v := range dotenv {
		vars[k] = v
	}
	for k, v := range env {
		vars[k] = v
	}
	// The external logs image, present locally under the compose file's reference: its ID is
	// recorded. (Absent, its digest stays empty for the Pull stage; the command test covers that.)
	logsRef := prefix + ".local/example/logs:1.0"
	is.NoErr(api.ImageTag(ctx, demo.LogsImage, logsRef))
	enginetest.Cleanup(t, api, logsRef)

	req := embedded.Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "test", Mode: embedded.ModeDocker, ProjectRoot: repoRoot,
		OutputRoot: t.TempDir(), ComposeFile: filepath.Join(dir, "docker-compose.yml"), Brand: "esb",
		Project: prefix, ImagePrefix: prefix, ImageTag: "it", Vars: vars,
	}
	// Remove whatever this test builds, even when it fails half-way.
	tmpl, err := sam.ParseFile(req.Template, sam.Options{})
	is.NoErr(err)
	cf, err := compose.ParseFile(req.ComposeFile, vars)
	is.NoErr(err)
	plan, err := embedded.Plan(tmpl, cf, req)
	is.NoErr(err)
	var built []string
	for _, b := range plan.Images {
		built = append(built, b.Name)
	}
	enginetest.Cleanup(t, api, built...)

	progress.Reset()
	start = time.Now()
	m, err := embedded.Run(ctx, api, req, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("first Run: %s\n%s", time.Since(start).Round(time.Millisecond), builtLines(progress.String()))

	want := []struct{ name, kind, source string }{
		{"dindbundler/runtime-java:21", manifest.KindBase, embedded.SourceRuntime},
		{"dindbundler/runtime-nodejs:20", manifest.KindBase, embedded.SourceRuntime},
		{"dindbundler/runtime-python:3.12", manifest.KindBase, embedded.SourceRuntime},
		{prefix + "-agent:latest", manifest.KindService, embedded.SourceInternal},
		{prefix + "-dev-hello:it", manifest.KindFunction, embedded.SourceSAM},
		{prefix + "-gateway:latest", manifest.KindService, embedded.SourceInternal},
		{prefix + "-greet:it", manifest.KindFunction, embedded.SourceSAM},
		{prefix + "-quote:it", manifest.KindFunction, embedded.SourceSAM},
		{prefix + "-report:it", manifest.KindFunction, embedded.SourceSAM},
		{prefix + "-storage:latest", manifest.KindService, embedded.SourceInternal},
		{prefix + "-thumbnail:it", manifest.KindFunction, embedded.SourceSAM},
		{logsRef, manifest.KindExternal, embedded.SourceCompose},
	}
	is.Equal(len(m.Images), len(want))
	for i, w := range want {
		img := m.Images[i]
		is.Equal(img.Name, w.name)
		is.Equal(img.Kind, w.kind)
		is.Equal(img.Source, w.source)
		info, err := api.ImageInspect(ctx, img.Name)
		is.NoErr(err)
		is.Equal(img.Digest, info.ID) // digest = local image ID
		is.Equal(img.Platform, info.Os+"/"+info.Architecture)
		for k, v := range img.Labels {
			is.Equal(info.Config.Labels[k], v) // recorded labels are on the image
		}
		switch w.kind {
		case manifest.KindFunction:
			is.Equal(img.Labels["com.esb.kind"], "function")
			is.True(img.Labels["com.esb.function"] != "")
		case manifest.KindService:
			is.Equal(img.Labels["com.esb.kind"], "service")
		}
	}
	is.Equal(m.Images[4].Labels["com.esb.function"], "dev-hello") // FunctionName via !Sub of a Parameter

	// The manifest file.
	onDisk, err := manifest.Read(req.ManifestPath())
	is.NoErr(err)
	is.Equal(onDisk.SchemaVersion, manifest.SchemaSingle)
	is.Equal(onDisk.Images, m.Images)
	is.Equal(onDisk.Build.Project, prefix)
	is.Equal(onDisk.Build.Env, "test")
	is.Equal(onDisk.Build.Mode, "docker")
	is.Equal(onDisk.Build.ImagePrefix, prefix)
	is.Equal(onDisk.Build.ImageTag, "it")
	is.Equal(onDisk.Template.Path, "examples/demo/template.yaml") // relative to the git top level
	data, err := os.ReadFile(req.Template)
	is.NoErr(err)
	sum := sha256.Sum256(data)
	is.Equal(onDisk.Template.SHA256, hex.EncodeToString(sum[:]))
	is.Equal(onDisk.Template.Parameters, map[string]string{"Stage": "dev"})
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "--verify", "--quiet", "HEAD").Output()
	is.Equal(onDisk.Build.Git.Commit, strings.TrimSpace(string(head)))

	// Zip python function: layer in /opt, code in /var/task, placeholders literal, handler as CMD.
	hello, err := api.ImageInspect(ctx, prefix+"-dev-hello:it")
	is.NoErr(err)
	for _, e := range []string{"LOG_ENDPOINT=${LOGS_URL}/insert/jsonline", "STORAGE_ENDPOINT=${STORAGE_URL}", "STORAGE_ACCESS_KEY=${RUSTFS_ACCESS_KEY}", "GREETING=Hello"} {
		if !slices.Contains(hello.Config.Env, e) {
			t.Errorf("function image env %q lacks %q", hello.Config.Env, e)
		}
	}
	is.Equal([]string(hello.Config.Cmd), []string{"app.handler"})
	opt := listInImage(t, api, prefix+"-dev-hello:it", "/opt")
	_, ok := opt["python/common_util.py"]
	is.True(ok) // the layer's content is in /opt
	task := listInImage(t, api, prefix+"-dev-hello:it", "/var/task")
	_, ok = task["app.py"]
	is.True(ok)

	// Java function: the .jar is extracted into /var/task, as Lambda does; no layers.
	report := listInImage(t, api, prefix+"-report:it", "/var/task")
	is.Equal(report["META-INF/MANIFEST.MF"], "Manifest-Version: 1.0\nCreated-By: dindbundler demo\n\n")
	is.True(strings.HasPrefix(report["example/report.txt"], "Report function resources."))
	_, ok = report["report.jar"]
	is.True(!ok) // extracted, not copied
	reportInfo, err := api.ImageInspect(ctx, prefix+"-report:it")
	is.NoErr(err)
	is.Equal([]string(reportInfo.Config.Cmd), []string{"example.Report::handleRequest"})

	// A second run rebuilds from the builder's cache: same image IDs.
	progress.Reset()
	start = time.Now()
	again, err := embedded.Run(ctx, api, req, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("second Run (cached): %s\n%s", time.Since(start).Round(time.Millisecond), builtLines(progress.String()))
	for i := range again.Images {
		is.Equal(again.Images[i].Digest, m.Images[i].Digest)
	}
}

// builtLines keeps the producer's "built NAME … in Ns" lines of a progress log.
func builtLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "built ") || strings.HasPrefix(l, "demo: ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
