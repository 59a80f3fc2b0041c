package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
)

// writeFile writes content to path, making the directories it needs.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// projectFiles writes files (slash-separated path relative to a new directory → content) and
// returns the directory.
func projectFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(rel)), content, 0o644)
	}
	return dir
}

// preflightProject writes files (relative path → content) into a new project directory and
// loads its configuration with environ.
func preflightProject(t *testing.T, files map[string]string, environ ...string) config.Config {
	t.Helper()
	dir := projectFiles(t, files)
	cfg, err := config.Load(append([]string{"BUILD_DIR=" + filepath.Join(dir, "build")}, environ...), dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// What the configuration names but the machine lacks fails a run before any stage does work
// (no BUILD_DIR, no Docker client), and a dry run prints its plan and fails with the same errors.
func TestRunThroughPreflight(t *testing.T) {
	const tpl = "Resources: {}\n"
	tests := []struct {
		name    string
		files   map[string]string
		environ []string
		last    Step
		want    []string // substrings of the error; none: the preflight passes
	}{
		{name: "no TEMPLATE", files: map[string]string{"docker-compose.yml": "services: {}\n"}, last: StepImage,
			want: []string{"TEMPLATE is not set"}},
		{name: "missing template", files: map[string]string{"docker-compose.yml": "services: {}\n"}, environ: []string{"TEMPLATE=a.yaml,missing.yaml"},
			last: StepDeploy, want: []string{"TEMPLATE names {dir}/missing.yaml: no such file"}},
		{name: "template is a directory", files: map[string]string{"sam/x": ""}, environ: []string{"TEMPLATE=sam"},
			last: StepDeploy, want: []string{"TEMPLATE names {dir}/sam: no such file"}},
		{name: "missing default compose file", files: map[string]string{"t.yaml": tpl}, environ: []string{"TEMPLATE=t.yaml"},
			last: StepImage, want: []string{"no compose file", "{dir}/docker-compose.docker.yml", "{dir}/docker-compose.yml", "COMPOSE_FILE"}},
		{name: "missing explicit compose file", files: map[string]string{"t.yaml": tpl}, environ: []string{"TEMPLATE=t.yaml", "COMPOSE_FILE=typo.yml"},
			last: StepImage, want: []string{"COMPOSE_FILE={dir}/typo.yml: no such file"}},
		{name: "every problem at once", last: StepImage, environ: []string{"TEMPLATE=x.yaml"},
			want: []string{"TEMPLATE names {dir}/x.yaml", "no compose file"}},
		{name: "certs need neither", last: StepCerts},
		{name: "save needs no compose file", files: map[string]string{"t.yaml": tpl}, environ: []string{"TEMPLATE=t.yaml"}, last: StepSave},
		{name: "all there", files: map[string]string{"t.yaml": tpl, "docker-compose.docker.yml": "services: {}\n"}, environ: []string{"TEMPLATE=t.yaml"}, last: StepImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			cfg := preflightProject(t, tt.files, tt.environ...)
			b := &Bundler{Config: cfg}
			err := b.Preflight(tt.last)
			if len(tt.want) == 0 {
				is.NoErr(err)
				return
			}
			is.True(err != nil) // the preflight fails
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "{dir}", cfg.WorkDir)
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}

			// A run fails the same way before any stage: no BUILD_DIR, no stage done.
			var log bytes.Buffer
			b = &Bundler{Config: cfg, Log: &log}
			is.Equal(b.RunThrough(context.Background(), tt.last).Error(), err.Error())
			is.Equal(len(b.done), 0)
			_, statErr := os.Stat(cfg.BuildDir)
			is.True(os.IsNotExist(statErr)) // nothing was written

			// A dry run prints its plan, then fails with the same errors.
			cfg.DryRun = true
			b = &Bundler{Config: cfg, Log: &log}
			stdout := captureStdout(t, func() {
				dryErr := b.RunThrough(context.Background(), tt.last)
				is.True(dryErr != nil)                                 // a dry run exits non-zero
				is.True(strings.Contains(dryErr.Error(), err.Error())) // with the run's errors
			})
			is.True(strings.Contains(stdout, "dry run: nothing is built")) // after printing the plan
		})
	}
}

// captureStdout runs f with os.Stdout sent to a file and returns what f wrote there.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = out
	defer func() { os.Stdout = saved }()
	f()
	data, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
