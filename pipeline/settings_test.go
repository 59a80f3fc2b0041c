package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer"
)

// settingsTemplate is inputsTemplate with a Stage parameter that reaches a function's
// environment, as in a stack deployed per stage.
const settingsTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: ../shared/fn
      Environment:
        Variables:
          STAGE: !Ref Stage
`

// TestDeploySettingsAreInputs: every setting that decides what the producer makes is an input of
// the Deploy stage, judged by the same key in a run and in a dry run; the reason names the
// setting and never prints its value. A variable no producer reads is not an input.
func TestDeploySettingsAreInputs(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour)
	base := []string{"TEMPLATE=tmpl/template.yaml", "ENV_VARS_FILE=shared/env.json", "SVC_VERSION=1"}
	tests := []struct {
		name    string
		environ []string // added to base (later entries win)
		wantWhy string   // "" for fresh
	}{
		{"nothing changed", nil, ""},
		{"PARAMETER_OVERRIDES", []string{"PARAMETER_OVERRIDES=Stage=prod"}, "PARAMETER_OVERRIDES"},
		{"a patched runtime base", []string{"RUNTIME_BASE_PYTHON3_12=local/python:3.12-patched"}, "RUNTIME_BASE_PYTHON3_12"},
		{"IMAGE_TAG", []string{"IMAGE_TAG=v2"}, "IMAGE_TAG"},
		{"IMAGE_PREFIX", []string{"IMAGE_PREFIX=acme"}, "IMAGE_PREFIX"},
		{"PROJECT_NAME", []string{"PROJECT_NAME=other"}, "PROJECT_NAME"},
		{"an external PRODUCER", []string{"PRODUCER=esb"}, "PRODUCER"},
		{"a builder's image", []string{"BUILD_IMAGE_PYTHON3_12=local/build-python:3.12"}, "BUILD_IMAGE_PYTHON3_12"},
		{"a mirror carrying a secret", []string{"PIP_INDEX_URL=https://user:s3cr3t@mirror.local/simple"}, "PIP_INDEX_URL"},
		{"a variable the compose file's build reads", []string{"SVC_VERSION=2"}, "SVC_VERSION"},
		{"another ENV_VARS_FILE", []string{"ENV_VARS_FILE=shared/env-prod.json"}, "ENV_VARS_FILE"},
		{"a variable no producer reads", []string{"TERM=dumb", "RUSTFS_SECRET_KEY=zzz", "FORCE_COLOR=1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir, _ := inputsProject(t, old)
			for rel, body := range map[string]string{
				"tmpl/template.yaml":   settingsTemplate,
				"docker-compose.yml":   "services:\n  api:\n    build:\n      context: ./svc\n      args:\n        VERSION: ${SVC_VERSION}\n",
				"shared/env-prod.json": "{\"Hello\": {\"STAGE\": \"x\"}}\n",
				"shared/s3cr3t-unused": "",
			} {
				p := filepath.Join(dir, rel)
				is.NoErr(os.WriteFile(p, []byte(body), 0o644))
				is.NoErr(os.Chtimes(p, old, old))
			}
			load := func(environ []string) *Bundler {
				cfg, err := config.Load(environ, dir)
				is.NoErr(err)
				return &Bundler{Config: cfg}
			}
			// A run with the first settings: snapshot, manifest written, inputs recorded.
			steps, err := load(base).deploySteps()
			is.NoErr(err)
			s := steps[0]
			inputs, err := producer.Snapshot(s)
			is.NoErr(err)
			is.NoErr(os.MkdirAll(filepath.Dir(s.Template.ManifestPath), 0o755))
			is.NoErr(os.WriteFile(s.Template.ManifestPath, []byte(`{"schema_version":"1.0","template":{"path":"t","sha256":"x"},"build":{},"images":[]}`), 0o644))
			for _, o := range s.Outputs { // the runtime config written with the manifest
				is.NoErr(os.MkdirAll(filepath.Dir(o), 0o755))
				is.NoErr(os.WriteFile(o, []byte("{}\n"), 0o644))
			}
			is.NoErr(producer.RecordInputs(s, inputs))

			b := load(append(append([]string{}, base...), tt.environ...))
			steps, err = b.deploySteps()
			is.NoErr(err)
			d, err := producer.Check(steps[0], false, nil)
			is.NoErr(err)
			var plan bytes.Buffer
			is.NoErr(b.PrintPlan(&plan))
			deployLine := ""
			for _, line := range strings.Split(plan.String(), "\n") {
				if strings.HasPrefix(line, "  deploy    ") {
					deployLine = line
				}
			}
			if tt.wantWhy == "" {
				is.True(d.Fresh)                                      // not an input
				is.True(strings.Contains(deployLine, ": would skip")) // the dry run decides alike
				return
			}
			is.True(!d.Fresh)
			is.True(strings.Contains(d.Reason, tt.wantWhy+" changed")) // names the setting
			is.True(!strings.Contains(d.Reason, "s3cr3t"))             // never its value
			is.True(!strings.Contains(d.Reason, "Stage=prod"))
			// The dry run decides from the same key: "would run: <setting> changed".
			is.True(strings.Contains(deployLine, ": would run: "))
			is.True(strings.Contains(deployLine, tt.wantWhy+" changed"))
			is.True(!strings.Contains(plan.String(), "s3cr3t"))
		})
	}
}
