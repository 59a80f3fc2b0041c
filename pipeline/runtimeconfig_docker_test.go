package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// TestPipelineRuntimeConfig bundles a two-template project with the embedded producer (function
// images named under CONTAINER_REGISTRY) and reads functions.yml and routing.yml back out of the
// bundle image; then gives the second template a route the first one has, which the Manifest
// stage refuses naming both templates.
func TestPipelineRuntimeConfig(t *testing.T) { enginetest.Each(t, pipelineRuntimeConfigOn) }

func pipelineRuntimeConfigOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	suffix := fmt.Sprint(time.Now().UnixNano())
	prefix := "runtimeconfigtest-" + suffix
	// A Lambda runtime stand-in: the function images copy their code onto it.
	runtimeBase := p.embeddedStack(t, api, prefix)
	const orders = `Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    Timeout: 20
    Environment:
      Variables: {TABLE: "${ORDERS_TABLE}"}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders
      CodeUri: src
      ReservedConcurrentExecutions: 2
      Events:
        Create: {Type: Api, Properties: {Path: /orders, Method: post}}
        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day), Input: '{"report": true}'}}
`
	users := func(extra string) string {
		return `Transform: AWS::Serverless-2016-10-31
Resources:
  Users:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: users
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src
      Events:
        Get: {Type: HttpApi, Properties: {Path: "/users/{id}", Method: get}}
` + extra
	}
	p.write(t, "orders/template.yaml", orders)
	p.write(t, "users/template.yaml", users(""))

	registry := "127.0.0.1:5010"
	fnImage := func(fn string) string { return registry + "/" + prefix + "-" + fn + ":latest" }
	enginetest.Cleanup(t, api, fnImage("orders"), fnImage("users"))
	cfg, err := config.Load([]string{
		"TEMPLATE=orders/template.yaml,users/template.yaml",
		"IMAGE_PREFIX=" + prefix, "CONTAINER_REGISTRY=" + registry,
		"RUNTIME_BASE_PYTHON3_12=" + runtimeBase,
		"BUNDLE_TAG=" + prefix + "-bundle:latest",
		"DIND_BASE_IMAGE=" + testBaseImage(t, e),
	}, p.dir)
	is.NoErr(err)
	counting := enginetest.NewCounting(api)
	b := &Bundler{Config: cfg, Docker: counting, Log: testLog{t}}
	enginetest.Cleanup(t, api, cfg.BundleTag)
	is.NoErr(runAll(t, ctx, b))
	// The engine is asked its image store once in the run: two producer runs, their builder,
	// Pull, Save and Image all ask the run's engine handle.
	is.Equal(counting.Count("Info"), int64(1))

	files := enginetest.ImageFiles(t, api, cfg.BundleTag, "/app/config")
	is.Equal(files["/app/config/functions.yml"].Content, `defaults: {}
functions:
  orders:
    image: `+fnImage("orders")+`
    timeout: 20
    memory_size: 128
    environment:
      TABLE: ${ORDERS_TABLE}
    scaling:
      max_capacity: 2
    events:
      - schedule:
          rate: rate(1 day)
          input: '{"report": true}'
  users:
    image: `+fnImage("users")+`
    timeout: 3
    memory_size: 128
`)
	is.Equal(files["/app/config/routing.yml"].Content, `routes:
  - path: /orders
    method: POST
    function: orders
  - path: /users/{id}
    method: GET
    function: users
`)
	is.Equal(files["/app/config/app.conf"].Content, "level=info\n") // CONFIG_DIR's files beside them
	is.Equal(files["/app/config/functions.yml"].Mode.Perm(), os.FileMode(0o644))

	var report bytes.Buffer
	is.NoErr(b.InspectTo(ctx, &report))
	for _, want := range []string{"functions (2, /app/config/functions.yml)", fnImage("users"), "POST /orders", "→ orders"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("inspect does not list %q:\n%s", want, report.String())
		}
	}

	// The second template routes POST /orders too: refused, naming both templates.
	p.write(t, "users/template.yaml", users("        Steal: {Type: Api, Properties: {Path: /orders, Method: post}}\n"))
	b = &Bundler{Config: cfg, Docker: api, Log: testLog{t}} // a new run: a Bundler runs each stage once
	err = b.RunAll(ctx)
	errHas(t, err, "route POST /orders goes to function orders in "+filepath.Join(p.dir, "orders", "template.yaml"),
		"but to users in "+filepath.Join(p.dir, "users", "template.yaml"))
	after := enginetest.ImageFiles(t, api, cfg.BundleTag, "/app/config")
	is.Equal(after["/app/config/routing.yml"].Content, files["/app/config/routing.yml"].Content) // the bundle is left as it was

	// A route of its own instead: the runtime config is part of the bundle's freshness.
	p.write(t, "users/template.yaml", users("        List: {Type: Api, Properties: {Path: /users, Method: get}}\n"))
	b = &Bundler{Config: cfg, Docker: api, Log: testLog{t}}
	is.NoErr(runAll(t, ctx, b))
	after = enginetest.ImageFiles(t, api, cfg.BundleTag, "/app/config")
	is.True(strings.Contains(after["/app/config/routing.yml"].Content, "  - path: /users\n    method: GET\n    function: users\n"))
}
