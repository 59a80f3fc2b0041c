package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer"
)

// inputsProject is a stack whose sources lie outside the template's directory: code under
// ../shared/fn, a layer under ../layers/common, an Image function's context ../img with its
// Dockerfile, and a compose service built from ../svc. Everything is older than the manifest.
func inputsProject(t *testing.T, old time.Time) (dir string, cfg config.Config) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{
		".git/HEAD":              "ref: refs/heads/main\n",
		"tmpl/template.yaml":     inputsTemplate,
		"shared/fn/app.py":       "def handler(e, c):\n    return 1\n",
		"layers/common/lib.py":   "X = 1\n",
		"img/Dockerfile":         "FROM scratch\n",
		"img/main.go":            "package main\n",
		"svc/Dockerfile":         "FROM scratch\n",
		"svc/server.go":          "package main\n",
		"docker-compose.yml":     "services:\n  api:\n    build: ./svc\n",
		"unrelated/notes.txt":    "not an input\n",
		"shared/env.json":        "{\"Parameters\": {}}\n",
		"tmpl/.esb/default/x":    "",
		"build/state/other.json": "{}",
	}
	for rel, body := range files {
		p := filepath.Join(dir, rel)
		writeFile(t, p, body, 0o644)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]string{"TEMPLATE=tmpl/template.yaml", "ENV_VARS_FILE=shared/env.json"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

const inputsTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Common:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: ../layers/common
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: ../shared/fn
      Layers: [!Ref Common]
  Img:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata:
      DockerContext: ../img
      Dockerfile: Dockerfile
`

// TestDeployInputsComeFromThePlan: the embedded producer's manifest is stale when any file its
// plan reads changes, wherever it lies and whatever its timestamp; a file it does not read is not
// an input.
func TestDeployInputsComeFromThePlan(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour)
	tests := []struct {
		name    string
		rel     string // the file changed
		cpP     bool   // restored with cp -p from an even older copy, instead of edited now
		wantWhy string // "" for fresh
	}{
		{"code under CodeUri: ../shared/fn", "shared/fn/app.py", false, "shared/fn/app.py changed after"},
		{"code restored with cp -p", "shared/fn/app.py", true, "shared/fn/app.py changed since"},
		{"layer directory", "layers/common/lib.py", false, "layers/common/lib.py changed after"},
		{"layer file restored with cp -p", "layers/common/lib.py", true, "layers/common/lib.py changed since"},
		{"Dockerfile of an Image function", "img/Dockerfile", true, "img/Dockerfile changed since"},
		{"compose build context outside the template dir", "svc/server.go", false, "svc/server.go changed after"},
		{"compose build context, cp -p", "svc/server.go", true, "svc/server.go changed since"},
		{"the compose file", "docker-compose.yml", true, "docker-compose.yml changed since"},
		{"ENV_VARS_FILE", "shared/env.json", true, "shared/env.json changed since"},
		{"a file no plan reads", "unrelated/notes.txt", false, ""},
		{"the producer's own output", "tmpl/.esb/default/x", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir, cfg := inputsProject(t, old)
			b := &Bundler{Config: cfg}
			steps, err := b.deploySteps()
			is.NoErr(err)
			s := steps[0]
			for _, want := range []string{"shared/fn", "layers/common", "img", "svc", "docker-compose.yml", "tmpl/template.yaml"} {
				found := false
				for _, in := range s.Inputs {
					found = found || in == filepath.Join(dir, want)
				}
				is.True(found) // every source the plan reads is an input
			}
			// A run: snapshot, manifest written, inputs recorded.
			inputs, err := producer.Snapshot(s)
			is.NoErr(err)
			is.NoErr(os.MkdirAll(filepath.Dir(s.Template.ManifestPath), 0o755))
			is.NoErr(os.WriteFile(s.Template.ManifestPath, []byte(`{"schema_version":"1.0","template":{"path":"t","sha256":"x"},"build":{},"images":[]}`), 0o644))
			// resources.yml too: the template defines a layer, which it lists.
			is.Equal(s.Outputs, []string{filepath.Join(s.Template.RuntimeConfigDir, "functions.yml"), filepath.Join(s.Template.RuntimeConfigDir, "routing.yml"), filepath.Join(s.Template.RuntimeConfigDir, "resources.yml")})
			is.NoErr(os.MkdirAll(s.Template.RuntimeConfigDir, 0o755))
			for _, o := range s.Outputs { // the runtime config the embedded producer writes with it
				is.NoErr(os.WriteFile(o, []byte("{}\n"), 0o644))
			}
			is.NoErr(producer.RecordInputs(s, inputs))
			d, err := producer.Check(s, false, nil)
			is.NoErr(err)
			is.True(d.Fresh) // just made

			p := filepath.Join(dir, tt.rel)
			if tt.cpP {
				older := filepath.Join(t.TempDir(), "older")
				is.NoErr(os.WriteFile(older, []byte("# an older version\n"), 0o644))
				even := old.Add(-time.Hour)
				is.NoErr(os.Chtimes(older, even, even))
				out, err := exec.Command("cp", "-p", older, p).CombinedOutput()
				is.True(err == nil && len(out) == 0) // cp -p
			} else {
				is.NoErr(os.WriteFile(p, []byte("# changed\n"), 0o644))
			}
			d, err = producer.Check(s, false, nil)
			is.NoErr(err)
			if tt.wantWhy == "" {
				is.True(d.Fresh) // not an input
				return
			}
			is.True(!d.Fresh)
			is.True(strings.Contains(d.Reason, tt.wantWhy)) // names the changed file
		})
	}
}
