package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

const helloTemplate = `Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src
`

// TestBundleTagClashesAreRefusedBeforeAnyWork: a BUNDLE_TAG naming an image of the stack — a
// compose service's, a function's, one a manifest lists — and two templates that define one
// function are refused at the earliest point that knows the images, before anything is tagged;
// a dry run fails alike.
func TestBundleTagClashesAreRefusedBeforeAnyWork(t *testing.T) {
	files := map[string]string{
		".git/HEAD":          "ref: refs/heads/main\n",
		"a/template.yaml":    helloTemplate,
		"a/src/app.py":       "def handler(e, c): return 1\n",
		"b/template.yaml":    helloTemplate,
		"b/src/app.py":       "def handler(e, c): return 2\n",
		"docker-compose.yml": "services:\n  web:\n    image: acme/web:${WEB_VERSION:-1}\n  api:\n    build: ./api\n",
		"api/Dockerfile":     "FROM scratch\n",
	}
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"a service's image, spelled otherwise", []string{"TEMPLATE=a/template.yaml", "BUNDLE_TAG=docker.io/acme/web:1"}, []string{"checked before the first stage", "BUNDLE_TAG=docker.io/acme/web:1 names the same image as acme/web:1 of the compose file's service web"}},
		{"a service's image from a variable", []string{"TEMPLATE=a/template.yaml", "WEB_VERSION=2", "BUNDLE_TAG=acme/web:2"}, []string{"service web"}},
		{"a built service's default name", []string{"TEMPLATE=a/template.yaml", "BUNDLE_TAG=esb-default-api"}, []string{"esb-default-api of the compose file's service api"}},
		{"a function's image", []string{"TEMPLATE=a/template.yaml", "BUNDLE_TAG=esb-hello"}, []string{"BUNDLE_TAG=esb-hello names the same image as esb-hello:latest of template " + "TEMPLATE_A"}},
		{"a runtime base", []string{"TEMPLATE=a/template.yaml", "BUNDLE_TAG=public.ecr.aws/lambda/python:3.12-x86_64"}, []string{"names the same image as public.ecr.aws/lambda/python:3.12-x86_64"}},
		{"two templates, one FunctionName", []string{"TEMPLATE=a/template.yaml,b/template.yaml"}, []string{"templates TEMPLATE_A and TEMPLATE_B both define function hello (image esb-hello:latest)", "another FunctionName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := projectFiles(t, files)
			cfg, err := config.Load(tt.environ, dir)
			is.NoErr(err)
			var log bytes.Buffer
			b := &Bundler{Config: cfg, Log: &log}
			err = b.RunThrough(context.Background(), StepImage)
			is.True(err != nil)
			for _, w := range tt.want {
				w = strings.NewReplacer("TEMPLATE_A", filepath.Join(dir, "a/template.yaml"), "TEMPLATE_B", filepath.Join(dir, "b/template.yaml")).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not hold %q", err, w)
				}
			}
			is.True(errors.Is(err, config.ErrClash))
			_, statErr := os.Stat(filepath.Join(dir, "a/.esb"))
			is.True(errors.Is(statErr, os.ErrNotExist)) // no producer ran

			cfg.DryRun = true
			var out bytes.Buffer
			b = &Bundler{Config: cfg, Log: &log}
			err = errors.Join(b.PrintPlan(&out), b.Preflight(StepImage))
			is.True(errors.Is(err, config.ErrClash)) // the dry run fails alike
		})
	}
}

// TestManifestRefusesABundleTagItLists: an external producer's images are known only from its
// manifest: the Manifest stage refuses a BUNDLE_TAG naming one before writing the merge, and
// every later stage refuses it before tagging anything, also when the merge is fresh.
func TestManifestRefusesABundleTagItLists(t *testing.T) {
	is := is.New(t)
	digest := "sha256:" + strings.Repeat("a", 64)
	dir := projectFiles(t, map[string]string{
		"t.yaml": "Resources: {}\n",
		".esb/default/bundle/manifest.json": `{"schema_version":"1.0","template":{"path":"t.yaml","sha256":"x"},"build":{},` +
			`"images":[{"name":"acme/fn:1","digest":"` + digest + `","kind":"function"}]}`,
	})
	load := func(tag string) *Bundler {
		cfg, err := config.Load([]string{"TEMPLATE=t.yaml", "PRODUCER=true", "BUNDLE_TAG=" + tag}, dir)
		is.NoErr(err)
		return &Bundler{Config: cfg}
	}
	err := load("docker.io/acme/fn:1").Manifest(context.Background())
	is.True(errors.Is(err, config.ErrClash))
	is.True(strings.Contains(err.Error(), "acme/fn:1 of the manifest"))
	_, err = os.Stat(filepath.Join(dir, "build/bundle/manifest.json"))
	is.True(errors.Is(err, os.ErrNotExist)) // nothing written

	is.NoErr(load("acme/bundle:1").Manifest(context.Background())) // merged
	b := load("acme/fn:1")
	err = b.Manifest(context.Background()) // fresh, still refused
	is.True(errors.Is(err, config.ErrClash))
	_, err = b.readMerged() // Pull, Save and Image read it through here
	is.True(errors.Is(err, config.ErrClash))
	m, err := manifest.Read(b.Config.Layout().MergedManifest())
	is.NoErr(err)
	is.Equal(m.Names(), []string{"acme/fn:1"})
}
