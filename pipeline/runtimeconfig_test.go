package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// The Manifest stage merges the runtime config directories the producers left (an external
// producer's <output root>/<env>/config here, with a file of its own) into
// BUILD_DIR/bundle/config; it skips when nothing changed, refuses a conflict naming both
// templates without touching its outputs, and the dry run says what it would write.
func TestManifestMergesRuntimeConfigs(t *testing.T) {
	is := is.New(t)
	const manifestJSON = `{"schema_version":"1.0","template":{"path":"%s","sha256":"x"},"build":{"project":"p","env":"default","mode":"docker","image_prefix":"esb","image_tag":"latest"},"images":[{"name":"%s:1","digest":"sha256:@","kind":"function"}]}`
	files := map[string]string{
		"a/template.yaml": "Resources: {}\n", "b/template.yaml": "Resources: {}\n",
		"a/.esb/template/default/bundle/manifest.json":   strings.NewReplacer("%s", "a", "@", strings.Repeat("a", 64)).Replace(manifestJSON),
		"b/.esb/template-2/default/bundle/manifest.json": strings.NewReplacer("%s", "b", "@", strings.Repeat("b", 64)).Replace(manifestJSON),
		"a/.esb/template/default/config/functions.yml":   "functions:\n  fa: {image: esb-fa:1, timeout: 3}\n",
		"a/.esb/template/default/config/routing.yml":     "routes:\n  - {path: /a, method: GET, function: fa}\n",
		"a/.esb/template/default/config/resources.yml":   "resources:\n  s3:\n    - {BucketName: a}\n",
		"b/.esb/template-2/default/config/functions.yml": "functions:\n  fb: {image: esb-fb:1}\n",
	}
	cfg := preflightProject(t, files, "TEMPLATE=a/template.yaml,b/template.yaml", "PRODUCER=true")
	var log bytes.Buffer
	b := &Bundler{Config: cfg, Log: &log}
	ctx := context.Background()

	var plan bytes.Buffer
	is.NoErr(b.PrintPlan(&plan))
	is.True(strings.Contains(plan.String(), "runtime config "+cfg.Layout().MergedRuntimeConfig()+": functions.yml, resources.yml, routing.yml (2 functions, 1 routes), in the bundle at /app/config"))

	is.NoErr(b.Manifest(ctx))
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(cfg.Layout().MergedRuntimeConfig(), name))
		is.NoErr(err)
		return string(data)
	}
	is.Equal(read("functions.yml"), "defaults: {}\nfunctions:\n  fa:\n    image: esb-fa:1\n    timeout: 3\n  fb:\n    image: esb-fb:1\n")
	is.Equal(read("routing.yml"), "routes:\n  - path: /a\n    method: GET\n    function: fa\n")
	is.Equal(read("resources.yml"), "resources:\n  s3:\n    - BucketName: a\n") // merged: the provisioner's shape

	log.Reset()
	is.NoErr((&Bundler{Config: cfg, Log: &log}).Manifest(ctx))
	is.True(strings.Contains(log.String(), "manifest: skipped")) // nothing changed

	// A runtime config is an input of the stage: a changed one is merged again.
	conflict := filepath.Join(cfg.Templates[1].RuntimeConfigDir, "routing.yml")
	is.NoErr(os.WriteFile(conflict, []byte("routes:\n  - {path: /a, method: get, function: fb}\n"), 0o644))
	err := (&Bundler{Config: cfg, Log: &log}).Manifest(ctx)
	errHas(t, err, "route GET /a goes to function fa in "+cfg.Templates[0].Path+" but to fb in "+cfg.Templates[1].Path)
	is.Equal(read("routing.yml"), "routes:\n  - path: /a\n    method: GET\n    function: fa\n") // left as it was
	plan.Reset()
	is.NoErr(b.PrintPlan(&plan))
	is.True(strings.Contains(plan.String(), "runtime config would FAIL: merge the templates' runtime configs:\nroute GET /a"))

	// No template has a runtime config any more: the bundle carries none.
	for _, t := range cfg.Templates {
		is.NoErr(os.RemoveAll(t.RuntimeConfigDir))
	}
	is.NoErr((&Bundler{Config: cfg, Log: &log}).Manifest(ctx))
	_, err = os.Stat(cfg.Layout().MergedRuntimeConfig())
	is.True(os.IsNotExist(err))
}
