package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/pipeline"
)

// DefaultBundleTag is the demo bundle's tag unless BUNDLE_TAG says otherwise.
const DefaultBundleTag = "dindbundler-demo:latest"

// Dir is examples/demo of this module's source tree.
func Dir() (string, error) { return source.Path("examples", "demo") }

// Bundle is the main job on a fresh checkout: it readies everything the example needs with no
// registry — the local DinD base image, the Lambda runtime stand-ins, the logs image under the
// compose file's default reference, development certificates — then runs the whole pipeline on
// examples/demo. environ (os.Environ()) wins over the demo's settings, so BUNDLE_TAG, FORCE,
// DRYRUN and the rest work as usual.
func Bundle(ctx context.Context, environ []string, log io.Writer) error {
	dir, err := Dir()
	if err != nil {
		return err
	}
	api, err := engine.New()
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := base.Ensure(ctx, api, base.Options{Progress: log}); err != nil {
		return fmt.Errorf("demo: build the DinD base image: %w", err)
	}
	vars, err := PrepareWith(ctx, api, dir, Options{TagLogs: true}, log)
	if err != nil {
		return err
	}
	env := []string{"TEMPLATE=template.yaml", "DIND_BASE_IMAGE=" + base.DefaultTag, "BUNDLE_TAG=" + DefaultBundleTag}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	// The demo's offline pip mirror wins over the caller's environment (see OfflinePip).
	for _, k := range slices.Sorted(maps.Keys(OfflinePip)) {
		environ = append(environ, k+"="+OfflinePip[k])
	}
	cfg, err := config.Load(append(env, environ...), dir)
	if err != nil {
		return err
	}
	b := pipeline.New(cfg)
	b.Docker, b.Log = api, log
	if !cfg.DryRun {
		if err := b.GenerateCerts(ctx); err != nil {
			return err
		}
	}
	if err := b.RunAll(ctx); err != nil {
		return err
	}
	if !cfg.DryRun {
		fmt.Fprint(log, ReadyMessage(cfg.BundleTag, cfg.CertDir))
	}
	return nil
}

// ReadyMessage is what the demo prints last: how to run the bundle, and the curl line that
// calls one of its functions through the gateway, trusting the bundle's CA.
func ReadyMessage(tag, certDir string) string {
	ca := filepath.Join(certDir, "rootCA.crt")
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, ca); err == nil && !strings.HasPrefix(rel, "..") {
			ca = rel
		}
	}
	return fmt.Sprintf("demo: bundle %s is ready; run it with\n"+
		"  docker run -d --privileged -v dindbundler-demo-docker:/var/lib/docker -p 8443:8443 -p 9000:9000 -p 9001:9001 -p 9428:9428 %s\n"+
		"then call a function (the first call pulls its image from the bundle's registry):\n"+
		"  curl --cacert %s https://localhost:8443/hello/world\n", tag, tag, ca)
}
