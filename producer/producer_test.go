package producer

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
)

func load(t *testing.T, dir string, environ ...string) config.Config {
	t.Helper()
	c, err := config.Load(environ, dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// validManifest is a per-template manifest that parses, for the freshness cases.
const validManifest = `{"schema_version":"1.0","template":{"path":"template.yaml","sha256":"x"},"build":{},"images":[{"name":"a:1","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","kind":"function"}]}`

func touch(t *testing.T, path string, mod time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	body := []byte(path)
	if filepath.Base(path) == "manifest.json" {
		body = []byte(validManifest)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		environ []string
		want    [][]string
	}{
		{"one template: default output root is not passed", []string{"TEMPLATE=a/t.yaml", "PRODUCER=uv run esb", "ESB_ENV=dev"}, [][]string{
			{"uv", "run", "esb", "deploy", "--template", filepath.Join(dir, "a/t.yaml"), "--env", "dev", "--mode", "docker", "--build-only", "--bundle-manifest"},
		}},
		{"explicit output root is passed", []string{"TEMPLATE=t.yaml", "PRODUCER=esb", "ESB_OUTPUT_DIR=out"}, [][]string{
			{"esb", "deploy", "--template", filepath.Join(dir, "t.yaml"), "--env", "default", "--mode", "docker", "--build-only", "--bundle-manifest", "--output", filepath.Join(dir, "out")},
		}},
		{"several templates each get their root", []string{"TEMPLATE=a/t.yaml,b/t.yaml", "PRODUCER=esb"}, [][]string{
			{"esb", "deploy", "--template", filepath.Join(dir, "a/t.yaml"), "--env", "default", "--mode", "docker", "--build-only", "--bundle-manifest", "--output", filepath.Join(dir, "a/.esb/t")},
			{"esb", "deploy", "--template", filepath.Join(dir, "b/t.yaml"), "--env", "default", "--mode", "docker", "--build-only", "--bundle-manifest", "--output", filepath.Join(dir, "b/.esb/t-2")},
		}},
		{"no PRODUCER: the embedded producer, no command", []string{"TEMPLATE=t.yaml"}, [][]string{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			steps, err := Plan(load(t, dir, tt.environ...))
			is.NoErr(err)
			is.Equal(len(steps), len(tt.want))
			for i, s := range steps {
				is.Equal(s.Args, tt.want[i])
			}
		})
	}
	_, err := Plan(load(t, dir))
	is.New(t).True(err != nil && strings.Contains(err.Error(), "TEMPLATE is not set"))
}

func TestCheck(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string)
		record    bool                           // record the inputs after setup, as a run does
		after     func(t *testing.T, dir string) // changes made after the recorded run
		force     bool
		wantFresh bool
		wantWhy   string
	}{
		{"no manifest yet", func(t *testing.T, dir string) {}, false, nil, false, false, "does not exist yet"},
		{"manifest newer than every input", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, "src/app.py"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(2*time.Minute))
		}, true, nil, false, true, "up to date"},
		{"no record of the inputs", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, "src/app.py"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(2*time.Minute))
		}, false, nil, false, false, "no record of the files"},
		{"code changed", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, "src/app.py"), t0.Add(2*time.Minute))
		}, true, nil, false, false, "src/app.py changed"},
		{"cp -p of an older file", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, "src/app.py"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(2*time.Minute))
		}, true, func(t *testing.T, dir string) {
			older := filepath.Join(t.TempDir(), "app.py")
			if err := os.WriteFile(older, []byte("an older version"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(older, t0.Add(-time.Hour), t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cp", "-p", older, filepath.Join(dir, "src/app.py")).CombinedOutput(); err != nil {
				t.Fatalf("cp -p: %v: %s", err, out)
			}
		}, false, false, "src/app.py changed since"},
		{"compose file changed", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, "docker-compose.yml"), t0.Add(2*time.Minute))
		}, true, nil, false, false, "docker-compose.yml changed"},
		{"outputs and the build dir do not count", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
		}, true, func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, ".esb/certs/server.crt"), t0.Add(2*time.Minute))
			touch(t, filepath.Join(dir, "build/images.tar"), t0.Add(2*time.Minute))
			touch(t, filepath.Join(dir, ".git/index"), t0.Add(2*time.Minute))
		}, false, true, "up to date"},
		{"a truncated manifest is not fresh", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, "src/app.py"), t0.Add(time.Minute))
			p := filepath.Join(dir, ".esb/default/bundle/manifest.json")
			touch(t, p, t0.Add(2*time.Minute))
			if err := os.WriteFile(p, []byte(validManifest[:40]), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true, nil, false, false, "unreadable, making it again"},
		{"FORCE", func(t *testing.T, dir string) {
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(2*time.Minute))
		}, true, nil, true, false, "FORCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			touch(t, filepath.Join(dir, "template.yaml"), t0)
			tt.setup(t, dir)
			steps, err := Plan(load(t, dir, "TEMPLATE=template.yaml"))
			is.NoErr(err)
			if tt.record {
				inputs, err := Snapshot(steps[0])
				is.NoErr(err)
				is.NoErr(RecordInputs(steps[0], inputs))
			}
			if tt.after != nil {
				tt.after(t, dir)
			}
			d, err := Check(steps[0], tt.force, nil)
			is.NoErr(err)
			is.Equal(d.Fresh, tt.wantFresh)
			is.True(strings.Contains(d.Reason, tt.wantWhy)) // the reason names what changed
		})
	}
}

func TestRunEmbedded(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "template.yaml"), time.Now())
	c := load(t, dir, "TEMPLATE=template.yaml")
	steps, err := Plan(c)
	is.NoErr(err)
	manifestPath := steps[0].Template.ManifestPath
	touch(t, manifestPath, time.Now()) // an old manifest

	failing := func(ctx context.Context, tpl config.Template) error { return errors.New("boom") }
	err = Run(context.Background(), c, steps[0], failing, io.Discard, io.Discard)
	is.True(err != nil && strings.Contains(err.Error(), "boom") && strings.Contains(err.Error(), "template.yaml"))
	_, statErr := os.Stat(manifestPath)
	is.True(errors.Is(statErr, os.ErrNotExist)) // a failed run leaves no manifest that looks fresh

	silent := func(ctx context.Context, tpl config.Template) error { return nil }
	err = Run(context.Background(), c, steps[0], silent, io.Discard, io.Discard)
	is.True(err != nil && strings.Contains(err.Error(), "wrote no manifest at "+manifestPath))

	writes := func(ctx context.Context, tpl config.Template) error {
		touch(t, tpl.ManifestPath, time.Now())
		return nil
	}
	is.NoErr(Run(context.Background(), c, steps[0], writes, io.Discard, io.Discard))
}

// The embedded producer's inputs outside the template's directory count for freshness: the
// ENV_VARS_FILE and the local layers LAYER_MAP names (and its file).
func TestCheckOfflineInputs(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	const arn = "arn:aws:lambda:us-east-1:1:layer:x:3"
	tests := []struct {
		name    string
		environ []string
		changed string
	}{
		{"env vars file", []string{"ENV_VARS_FILE=../shared/env.json"}, "shared/env.json"},
		{"mapped layer", []string{"LAYER_MAP=" + arn + "=../vendor/x"}, "vendor/x/python/mod.py"},
		{"layer map file", []string{"LAYER_MAP=../shared/layers.txt"}, "shared/layers.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			root := t.TempDir()
			dir := filepath.Join(root, "app")
			touch(t, filepath.Join(dir, "template.yaml"), t0)
			touch(t, filepath.Join(root, "shared/env.json"), t0)
			is.NoErr(os.WriteFile(filepath.Join(root, "shared/env.json"), []byte(`{"Parameters": {"A": "b"}}`), 0o644))
			is.NoErr(os.WriteFile(filepath.Join(root, "shared/layers.txt"), []byte(arn+"=../vendor/x\n"), 0o644))
			touch(t, filepath.Join(root, "vendor/x/python/mod.py"), t0)
			for _, p := range []string{"shared/env.json", "shared/layers.txt"} {
				is.NoErr(os.Chtimes(filepath.Join(root, p), t0, t0))
			}
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
			steps, err := Plan(load(t, dir, append(tt.environ, "TEMPLATE=template.yaml")...))
			is.NoErr(err)
			inputs, err := Snapshot(steps[0]) // as the run that made the manifest records them
			is.NoErr(err)
			is.NoErr(RecordInputs(steps[0], inputs))
			d, err := Check(steps[0], false, nil)
			is.NoErr(err)
			is.True(d.Fresh) // nothing changed yet

			later := t0.Add(2 * time.Minute)
			is.NoErr(os.Chtimes(filepath.Join(root, tt.changed), later, later))
			d, err = Check(steps[0], false, nil)
			is.NoErr(err)
			is.True(!d.Fresh)
			is.True(strings.Contains(d.Reason, filepath.Base(tt.changed))) // names what changed
		})
	}
	_, err := Plan(load(t, t.TempDir(), "TEMPLATE=t.yaml", "ENV_VARS_FILE=missing.json"))
	is.New(t).True(err != nil && strings.Contains(err.Error(), "ENV_VARS_FILE"))
}

// CONTAINER_REGISTRY renames the function images: changing it, setting or unsetting it makes
// the manifest stale; a run recorded without it stays fresh while it stays unset.
func TestCheckSettings(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	tests := []struct {
		name              string
		recorded, current []string
		wantFresh         bool
	}{
		{"unset before and now", nil, nil, true},
		{"the same registry", []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, true},
		{"set since", nil, []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, false},
		{"changed", []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, []string{"CONTAINER_REGISTRY=registry:5010"}, false},
		{"unset since", []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			touch(t, filepath.Join(dir, "template.yaml"), t0)
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
			steps, err := Plan(load(t, dir, append([]string{"TEMPLATE=template.yaml"}, tt.recorded...)...))
			is.NoErr(err)
			inputs, err := Snapshot(steps[0])
			is.NoErr(err)
			is.NoErr(RecordInputs(steps[0], inputs))
			steps, err = Plan(load(t, dir, append([]string{"TEMPLATE=template.yaml"}, tt.current...)...))
			is.NoErr(err)
			d, err := Check(steps[0], false, nil)
			is.NoErr(err)
			is.Equal(d.Fresh, tt.wantFresh)
			if !tt.wantFresh {
				is.True(strings.Contains(d.Reason, "CONTAINER_REGISTRY")) // the reason names the setting
			}
		})
	}
}

// A file the producer writes beside the manifest (Outputs) that is missing makes it stale.
func TestCheckOutputs(t *testing.T) {
	is := is.New(t)
	t0 := time.Now().Add(-time.Hour)
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "template.yaml"), t0)
	touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
	steps, err := Plan(load(t, dir, "TEMPLATE=template.yaml"))
	is.NoErr(err)
	inputs, err := Snapshot(steps[0])
	is.NoErr(err)
	is.NoErr(RecordInputs(steps[0], inputs))
	functions := filepath.Join(steps[0].Template.RuntimeConfigDir, "functions.yml")
	steps[0].Outputs = []string{functions}
	d, err := Check(steps[0], false, nil)
	is.NoErr(err)
	is.True(!d.Fresh)
	is.True(strings.Contains(d.Reason, functions+", written with it, is missing"))
	touch(t, functions, t0.Add(time.Minute))
	d, err = Check(steps[0], false, nil)
	is.NoErr(err)
	is.True(d.Fresh) // there now
}
