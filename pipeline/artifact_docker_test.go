package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/artifact"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// embeddedStack readies the project for the embedded producer: a Lambda runtime stand-in named
// after prefix (returned), the code of two functions, orders/src and users/src (the caller
// writes each directory's template.yaml), and a compose file whose one service is the project's
// local web image, so nothing is pulled.
func (p *project) embeddedStack(t *testing.T, api client.APIClient, prefix string) (runtimeBase string) {
	t.Helper()
	runtimeBase = prefix + "-python:3.12"
	enginetest.ScratchImage(t, api, runtimeBase, map[string][]byte{"bootstrap": []byte("runtime")})
	enginetest.Cleanup(t, api, runtimeBase)
	p.write(t, "docker-compose.yml", "services:\n  web:\n    image: "+p.service+"\n")
	p.write(t, "orders/src/app.py", "def handler(e, c): return 'orders'\n")
	p.write(t, "users/src/app.py", "def handler(e, c): return 'users'\n")
	return runtimeBase
}

// TestPipelineArtifactRoundTrip bundles two templates with the embedded producer, then bundles
// the artifact.yml that run wrote (ARTIFACT, no producer): both bundles carry the same images,
// runtime config and manifest, and a second ARTIFACT run is fresh. Then the ARTIFACT mode's
// rules: TEMPLATE and ARTIFACT both set; images missing locally (one error naming each);
// PREPARE_IMAGES=1 pulling one from a registry; a required secret unset, then set and never
// shown; a table two artifacts define differently, another file they carry differently (both
// naming the file and both artifacts), and identical files passing.
func TestPipelineArtifactRoundTrip(t *testing.T) { enginetest.Each(t, pipelineArtifactRoundTripOn) }

func pipelineArtifactRoundTripOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	prefix := "artifacttest-" + fmt.Sprint(time.Now().UnixNano())
	runtimeBase := p.embeddedStack(t, api, prefix)
	template := func(fn, path string) string {
		return `Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: ` + fn + `
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src
      Events:
        Get: {Type: Api, Properties: {Path: ` + path + `, Method: get}}
`
	}
	p.write(t, "orders/template.yaml", template("orders", "/orders"))
	p.write(t, "users/template.yaml", template("users", "/users"))
	common := []string{"IMAGE_PREFIX=" + prefix, "RUNTIME_BASE_PYTHON3_12=" + runtimeBase, "DIND_BASE_IMAGE=" + testBaseImage(t, e)}
	enginetest.Cleanup(t, api, prefix+"-orders:latest", prefix+"-users:latest")

	load := func(extra ...string) *Bundler {
		t.Helper()
		cfg, err := config.Load(append(append([]string{}, common...), extra...), p.dir)
		is.NoErr(err)
		return &Bundler{Config: cfg, Docker: api, Log: testLog{t}}
	}
	fromTemplates := load("TEMPLATE=orders/template.yaml,users/template.yaml", "BUNDLE_TAG="+prefix+"-t:latest")
	enginetest.Cleanup(t, api, fromTemplates.Config.BundleTag)
	is.NoErr(runAll(t, ctx, fromTemplates))

	file := fromTemplates.ArtifactManifestPath()
	data, err := os.ReadFile(file)
	is.NoErr(err)
	am, err := artifact.Decode(file, data)
	is.NoErr(err)
	entries, err := artifact.Validate(file, am, artifact.Facts{IsFile: isFile, SecretSet: func(string) bool { return false }})
	is.NoErr(err) // what the producer wrote passes the contract
	is.Equal(len(entries), 2)
	is.True(strings.HasPrefix(am.Artifacts[0].ID, "template-"))
	is.Equal(am.Artifacts[0].SourceTemplate.Parameters, map[string]string{"Stage": "dev"})
	is.Equal(am.Artifacts[0].RuntimeConfigDir, "config")
	is.Equal(am.Artifacts[0].BundleManifest, "bundle/manifest.json")

	fromArtifacts := load("ARTIFACT="+file, "BUILD_DIR=build-artifact", "BUNDLE_TAG="+prefix+"-a:latest")
	enginetest.Cleanup(t, api, fromArtifacts.Config.BundleTag)
	runs := p.producerRuns()
	is.NoErr(runAll(t, ctx, fromArtifacts))
	is.Equal(p.producerRuns(), runs) // nothing was produced

	bundled := func(tag string) (map[string]enginetest.File, manifest.Manifest) {
		files := enginetest.ImageFiles(t, api, tag, "/app/config", "/app/bundle")
		m, err := manifest.Parse([]byte(files["/app/bundle/manifest.json"].Content))
		is.NoErr(err)
		m.GeneratedAt = time.Time{}
		delete(files, "/app/bundle/manifest.json")
		return files, m
	}
	tFiles, tManifest := bundled(fromTemplates.Config.BundleTag)
	aFiles, aManifest := bundled(fromArtifacts.Config.BundleTag)
	is.True(tFiles["/app/config/functions.yml"].Content != "")
	is.True(strings.Contains(tFiles["/app/config/routing.yml"].Content, "/users"))
	for name, f := range tFiles {
		is.Equal(aFiles[name].Content, f.Content) // config and image list alike
	}
	is.Equal(len(aFiles), len(tFiles))
	is.Equal(aManifest, tManifest)

	// A second ARTIFACT run with nothing changed is fresh from the Deploy stage on.
	again := load("ARTIFACT="+file, "BUILD_DIR=build-artifact", "BUNDLE_TAG="+prefix+"-a:latest")
	var log strings.Builder
	again.Log = &log
	is.NoErr(again.RunAll(ctx))
	is.True(strings.Contains(log.String(), "deploy: skipped, 2 artifacts valid and unchanged"))
	is.True(strings.Contains(log.String(), "manifest: skipped"))

	// TEMPLATE and ARTIFACT together: refused when the configuration is read.
	_, err = config.Load(append(append([]string{}, common...), "TEMPLATE=orders/template.yaml", "ARTIFACT="+file), p.dir)
	errHas(t, err, "TEMPLATE and ARTIFACT are both set")

	// An artifact whose functions name images nobody has: one error naming each.
	entry := func(dir, fn, image, resources string) artifact.Entry {
		p.write(t, dir+"/runtime-config/functions.yml", "functions:\n  "+fn+":\n    image: "+image+"\n")
		p.write(t, dir+"/runtime-config/routing.yml", "routes: []\n")
		if resources != "" {
			p.write(t, dir+"/runtime-config/resources.yml", resources)
		}
		src := artifact.SourceTemplate{Path: dir + ".yaml"}
		return artifact.Entry{ID: artifact.ID(src), ArtifactRoot: dir, RuntimeConfigDir: "runtime-config", SourceTemplate: src}
	}
	writeArtifact := func(name string, entries ...artifact.Entry) string {
		data, err := artifact.Encode(artifact.Manifest{SchemaVersion: "1", Project: "p", Env: "default", Mode: "docker", Artifacts: entries})
		is.NoErr(err)
		p.write(t, name, string(data))
		return filepath.Join(p.dir, name)
	}
	fn0 := prefix + "-orders:latest"
	missing := writeArtifact("missing.yml", entry("m1", "a", prefix+"-gone-a:1", ""), entry("m2", "b", prefix+"-gone-b:1", ""))
	b := load("ARTIFACT="+missing, "BUILD_DIR=build-missing")
	err = b.Deploy(ctx)
	errHas(t, err, "2 images the artifacts name are missing locally", prefix+"-gone-a:1 (function image of "+missing+" artifacts[0]", prefix+"-gone-b:1", "PREPARE_IMAGES=1")

	// PREPARE_IMAGES=1 pulls what is missing: an image only the test registry has.
	pulled := writeArtifact("pull.yml", entry("p1", "a", p.external, ""))
	err = load("ARTIFACT="+pulled, "BUILD_DIR=build-pull").Deploy(ctx)
	errHas(t, err, "1 images the artifacts name are missing locally", p.external)
	is.NoErr(load("ARTIFACT="+pulled, "BUILD_DIR=build-pull", "PREPARE_IMAGES=1").Deploy(ctx))
	ids, missingNow, err := engine.ImageIDs(ctx, api, []string{p.external})
	is.NoErr(err)
	is.Equal(len(missingNow), 0)
	pulledManifest, err := manifest.Read(filepath.Join(p.dir, "build-pull", "artifacts", "1-"+artifact.ID(artifact.SourceTemplate{Path: "p1.yaml"}), "manifest.json"))
	is.NoErr(err)
	is.Equal(pulledManifest.Images[0].Digest, ids[p.external]) // recorded with its local identity

	// A required secret: unset, Deploy names it; set (here in the environment), it passes and
	// its value is never shown.
	secretEntry := entry("s1", "a", fn0, "")
	secretEntry.RequiredSecretEnv = []string{"ARTIFACT_TEST_TOKEN"}
	secret := writeArtifact("secret.yml", secretEntry)
	err = load("ARTIFACT="+secret, "BUILD_DIR=build-secret").Deploy(ctx)
	errHas(t, err, secret+" artifacts[0] (s1-", "required_secret_env: secret ARTIFACT_TEST_TOKEN is not set")
	var secretLog strings.Builder
	withSecret := load("ARTIFACT="+secret, "BUILD_DIR=build-secret", "ARTIFACT_TEST_TOKEN=s3cr3t-value")
	withSecret.Log = &secretLog
	is.NoErr(withSecret.Deploy(ctx))
	is.True(!strings.Contains(secretLog.String(), "s3cr3t-value"))

	// Two artifacts that define one table differently: the merge names the file and both.
	fn := fn0
	table := func(key string) string {
		return "resources:\n  dynamodb:\n    - {TableName: T, KeySchema: [{AttributeName: " + key + ", KeyType: HASH}]}\n"
	}
	one := writeArtifact("one.yml", entry("r1", "a", fn, table("id")))
	two := writeArtifact("two.yml", entry("r2", "b", fn, table("pk")))
	b = load("ARTIFACT="+one+","+two, "BUILD_DIR=build-conflict")
	is.NoErr(b.Deploy(ctx))
	err = b.Manifest(ctx)
	errHas(t, err, "resources.yml: dynamodb TableName T is defined differently by "+one+" artifacts[0] (r1-", "and "+two+" artifacts[0] (r2-")
	// Any other file two artifacts carry differently: named with both.
	p.write(t, "r2/runtime-config/resources.yml", table("id"))
	p.write(t, "r1/runtime-config/extra.yml", "a\n")
	p.write(t, "r2/runtime-config/extra.yml", "b\n")
	err = b.Manifest(ctx)
	errHas(t, err, "extra.yml differs between the runtime configs of "+one+" artifacts[0]", "and "+two+" artifacts[0]")
	p.write(t, "r2/runtime-config/extra.yml", "a\n") // identical: fine
	is.NoErr(b.Manifest(ctx))
}
