package embedded

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/docker/docker/client"
	"github.com/matryer/is"
)

// fileInImage reads one file of an image ("<dir>" for a directory).
func fileInImage(t *testing.T, api client.APIClient, ref, path string) (string, bool) {
	t.Helper()
	f, ok := enginetest.ImageFiles(t, api, ref, path)[path]
	if f.Dir {
		return "<dir>", ok
	}
	return f.Content, ok
}

// unitPrefix names this process's images: the same tests run by another process on the same
// engine (another checkout's) must not replace or remove them.
var unitPrefix = fmt.Sprintf("samdeploytest%d", os.Getpid())

// TestRunEnvInlineAndImageURI builds constructed functions on tiny local bases: environment
// values survive the Dockerfile literally, inline code and a zipped layer land where Lambda puts
// them, and a prebuilt ImageUri is renamed with the bundle's labels.
func TestRunEnvInlineAndImageURI(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	runtimeBase := unitPrefix + "-base:runtime"
	uriBase := unitPrefix + "-base:uri"
	enginetest.ScratchImage(t, api, runtimeBase, map[string][]byte{"/etc/runtime.txt": []byte("runtime")})
	uriID := enginetest.ScratchImage(t, api, uriBase, map[string][]byte{"/etc/uri.txt": []byte("uri")}, enginetest.Cmd("/fn"))

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"template.yaml": "# stands for the parsed template\n", "code/app.py": "def handler(e, c): pass\n"})
	makeZip(t, filepath.Join(dir, "layer.zip"), []string{"python/lib.py"}, map[string]string{"python/lib.py": "LIB = 1\n"})
	env := map[string]string{
		"PLACEHOLDER": "${VAR}",
		"DEFAULTED":   "${A:-b}/x",
		"DOLLAR":      "$HOME and $$",
		"QUOTES":      `say "hi" \ back\slash`,
		"EMPTY":       "",
	}
	tmpl := &sam.Template{Dir: dir, Parameters: map[string]string{"Stage": "unit"}, Functions: []sam.Function{
		{Name: "EnvFn", PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler",
			CodeURI: filepath.Join(dir, "code"), CodeKind: sam.CodeDir, Environment: env,
			Layers: []sam.Layer{{LogicalID: "Lib", ContentURI: filepath.Join(dir, "layer.zip")}}},
		{Name: "Inline", PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "index.handler",
			CodeKind: sam.CodeInline, InlineCode: "def handler(e, c):\n    return 'inline'\n"},
		{Name: "Prebuilt", PackageType: sam.PackageImage, ImageURI: uriBase},
	}}
	names := []string{unitPrefix + "-envfn:unit", unitPrefix + "-inline:unit", unitPrefix + "-prebuilt:unit"}
	enginetest.Cleanup(t, api, names...)
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: unitPrefix, ImageTag: "unit", Project: unitPrefix,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": runtimeBase},
	}
	start := time.Now()
	var progress bytes.Buffer
	m, err := runParsed(ctx, api, tmpl, nil, req, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("built 3 function images in %s:\n%s", time.Since(start).Round(time.Millisecond), grepBuilt(progress.String()))

	// Environment: literal, including the ${VAR} placeholders the stack resolves at run time.
	info, err := api.ImageInspect(ctx, unitPrefix+"-envfn:unit")
	is.NoErr(err)
	for k, v := range env {
		is.True(slices.Contains(info.Config.Env, k+"="+v)) // value kept literally
	}
	is.Equal([]string(info.Config.Cmd), []string{"app.handler"})
	got, ok := fileInImage(t, api, unitPrefix+"-envfn:unit", "/opt/python/lib.py")
	is.True(ok) // the zipped layer is extracted into /opt
	is.Equal(got, "LIB = 1\n")
	got, ok = fileInImage(t, api, unitPrefix+"-envfn:unit", "/var/task/app.py")
	is.True(ok)
	is.Equal(got, "def handler(e, c): pass\n")
	got, ok = fileInImage(t, api, unitPrefix+"-inline:unit", "/var/task/index.py")
	is.True(ok) // inline code is written as the runtime's handler file
	is.Equal(got, "def handler(e, c):\n    return 'inline'\n")

	// The prebuilt image, renamed: same content, the bundle's labels.
	pre, err := api.ImageInspect(ctx, unitPrefix+"-prebuilt:unit")
	is.NoErr(err)
	is.Equal(pre.Config.Labels["com.esb.kind"], "function")
	is.Equal(pre.Config.Labels["com.esb.function"], "Prebuilt")
	uri, err := api.ImageInspect(ctx, uriID)
	is.NoErr(err)
	is.Equal(pre.RootFS.Layers, uri.RootFS.Layers)

	// The manifest on disk is the one returned.
	onDisk, err := manifest.Read(req.ManifestPath())
	is.NoErr(err)
	is.Equal(onDisk.Names(), m.Names())
	is.Equal(m.Names(), []string{runtimeBase, uriBase, names[0], names[1], names[2]})
	is.Equal(m.Template.Path, "template.yaml") // outside git: relative to the project root
	is.Equal(m.Template.Parameters, map[string]string{"Stage": "unit"})
	is.Equal(m.Build.Git, manifest.Git{})
	for _, img := range m.Images {
		switch img.Name {
		case runtimeBase:
			is.Equal(img.Kind, manifest.KindBase)
			is.Equal(img.Source, SourceRuntime)
		case uriBase:
			is.Equal(img.Kind, manifest.KindBase)
			is.Equal(img.Source, SourceSAM)
			is.Equal(img.Digest, uriID)
		default:
			is.Equal(img.Kind, manifest.KindFunction)
		}
		info, err := api.ImageInspect(ctx, img.Name)
		is.NoErr(err)
		is.Equal(img.Digest, info.ID)
		is.Equal(img.Platform, info.Os+"/"+info.Architecture)
	}
}

// TestRunMissingBase: a base that is neither local nor pullable names the variable to set, and
// no manifest (not even an earlier one) is left behind.
func TestRunMissingBase(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"template.yaml": "x", "code/app.py": "x"})
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir,
		OutputRoot: filepath.Join(dir, ".esb"), Brand: "esb", Project: "esb-unit", ImagePrefix: unitPrefix, ImageTag: "missing",
		// Port 1 on loopback refuses at once: the pull fails fast, without a registry.
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": "127.0.0.1:1/samdeploytest/missing:1"},
	}
	stale := req.ManifestPath()
	is.NoErr(os.MkdirAll(filepath.Dir(stale), 0o755))
	is.NoErr(os.WriteFile(stale, []byte("{}"), 0o644))
	tmpl := &sam.Template{Dir: dir, Functions: []sam.Function{{Name: "Fn", Runtime: "python3.12", Handler: "app.handler", CodeURI: filepath.Join(dir, "code"), CodeKind: sam.CodeDir}}}
	_, err := runParsed(context.Background(), api, tmpl, nil, req, nil)
	is.True(err != nil) // want an error
	for _, want := range []string{"base image 127.0.0.1:1/samdeploytest/missing:1", "could not be pulled", "set RUNTIME_BASE_PYTHON3_12", "used by Fn"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	_, statErr := os.Stat(stale)
	is.True(os.IsNotExist(statErr)) // the earlier manifest is gone
}

// grepBuilt keeps the producer's "built NAME … in Ns" lines of a progress log.
func grepBuilt(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "built ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
