package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/config"
)

// TestSpecialFilesAreRefusedNotRead: a named pipe (or a device) where a file or directory is read
// from — TEMPLATE, .env, DEFAULTS_FILE, ENV_VARS_FILE, LAYER_MAP, the compose file, CONFIG_DIR,
// CERT_DIR's files, a function's CodeUri, a layer's ContentUri — is refused naming the path and
// what it is, by the configuration, the preflight, the dry run or the stage that reads it; none
// of them waits for a writer (every target hung on such a TEMPLATE or .env, the dry run too, and
// a FIFO CodeUri shipped a function with no code).
func TestSpecialFilesAreRefusedNotRead(t *testing.T) {
	const template = `Transform: AWS::Serverless-2016-10-31
Resources:
  Common:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src
      Layers: [!Ref Common]
`
	tests := []struct {
		name    string
		fifo    string   // the path made a named pipe (relative to the project)
		environ []string // added to TEMPLATE=template.yaml
	}{
		{"TEMPLATE", "template.yaml", nil},
		{".env", ".env", nil},
		{"DEFAULTS_FILE", "brand.env", []string{"DEFAULTS_FILE=brand.env"}},
		{"ENV_VARS_FILE", "env.json", []string{"ENV_VARS_FILE=env.json"}},
		{"LAYER_MAP", "layers.txt", []string{"LAYER_MAP=layers.txt"}},
		{"COMPOSE_FILE", "docker-compose.yml", nil},
		{"CONFIG_DIR", "config", nil},
		{"CERT_DIR's root CA", ".esb/certs/rootCA.crt", nil},
		{"a certificate in CERT_DIR", ".esb/certs/server.crt", nil},
		{"CodeUri", "src", nil},
		{"a layer's ContentUri", "layer", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := projectFiles(t, map[string]string{
				".git/HEAD":          "ref: refs/heads/main\n",
				"template.yaml":      template,
				"src/app.py":         "def handler(e, c): return 1\n",
				"layer/python/m.py":  "X = 1\n",
				"docker-compose.yml": "services:\n  web:\n    image: acme/web:1\n",
				"config/app.conf":    "level=info\n",
			})
			_, err := certs.Generate(filepath.Join(dir, ".esb", "certs"), certs.GenerateOptions{Hosts: []string{"web"}})
			is.NoErr(err)
			p := filepath.Join(dir, tt.fifo)
			is.NoErr(os.RemoveAll(p))
			is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
			is.NoErr(syscall.Mkfifo(p, 0o644))

			done := make(chan error, 1)
			var out bytes.Buffer
			go func() {
				cfg, err := config.Load(append([]string{"TEMPLATE=template.yaml"}, tt.environ...), dir)
				if err != nil {
					done <- err
					return
				}
				b := &Bundler{Config: cfg}
				cfg.DryRun = true
				dry := &Bundler{Config: cfg}
				_, deployErr := b.deploySteps()
				done <- errors.Join(b.Preflight(StepImage), dry.PrintPlan(&out), b.Certs(context.Background()), deployErr)
			}()
			select {
			case err := <-done:
				is.True(err != nil)
				msg := err.Error() + out.String()
				if !strings.Contains(msg, "named pipe (FIFO)") || !strings.Contains(msg, tt.fifo) {
					t.Fatalf("no error names %s as a named pipe:\n%s", tt.fifo, msg)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("blocked on the named pipe")
			}
		})
	}
}
