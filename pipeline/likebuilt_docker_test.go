package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// TestAssembledLikeBuilt checks that the bundle the Image stage puts together without a builder
// (bundleimage.Assemble: the layers image, one top layer from buildctx.Layer, BundleRuntime's
// configuration)
// is the image the classic builder makes of dind/Dockerfile from the same context plan (the
// fallback path: contextPlan with the layer files, then build): same runtime configuration, same
// files at the bundle's paths (type, mode, owner, size, content), the base's layers shared. A
// new ENV, LABEL, HEALTHCHECK option, chown or chmod in the Dockerfile that the assembled image
// does not follow fails here.
func TestAssembledLikeBuilt(t *testing.T) { enginetest.Each(t, assembledLikeBuiltOn) }

func assembledLikeBuiltOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	// A project .env readable by all (0644): both paths must make it root's, 0600.
	p := newProject(t, e, api, "ENV=default\nAPI_KEY=abc\n")
	is.NoErr(os.Chmod(p.dir+"/config/app.conf", 0o640)) // a config file's own mode is kept
	// The producer's runtime config (the fake producer's output root: stack/.esb), merged into
	// /app/config beside CONFIG_DIR's file on both paths.
	is.NoErr(os.MkdirAll(p.dir+"/stack/.esb/default/config", 0o755))
	is.NoErr(os.WriteFile(p.dir+"/stack/.esb/default/config/functions.yml", []byte("functions:\n  fn: {image: fn:1}\n"), 0o644))
	is.NoErr(os.WriteFile(p.dir+"/stack/.esb/default/config/routing.yml", []byte("routes:\n  - {path: /fn, method: POST, function: fn}\n"), 0o644))
	counting := enginetest.NewCounting(api)
	// The external image's registry stands for CONTAINER_REGISTRY: the bundle's registry serves
	// it, so both carry the registry binary, its script and index.
	served := "CONTAINER_REGISTRY=" + registryHost(p.external)
	b := p.bundler(t, counting, served)
	enginetest.Cleanup(t, api, b.Config.BundleTag)

	// (b) the Image stage as it runs: assembled, no builder.
	is.NoErr(runAll(t, ctx, b))
	is.Equal(counting.Count("ImageBuild"), int64(0))
	assembled := inspectImage(t, api, b.Config.BundleTag)

	// (a) the classic builder on dind/Dockerfile, from the same plan with the layer files in
	// the context, FROM the DinD base itself (what Image does when no layers image can be
	// loaded, and what a user building by hand does).
	m, err := b.readMerged()
	is.NoErr(err)
	set, store, err := b.readSet(m)
	is.NoErr(err)
	baseID, err := b.baseImageID(ctx)
	is.NoErr(err)
	reg, err := b.registryPlan(ctx, api, set, store, baseID)
	is.NoErr(err)
	withLayers, args, err := b.contextPlan(m, set, store, reg, true)
	is.NoErr(err)
	withoutLayers, args2, err := b.contextPlan(m, set, store, reg, false)
	is.NoErr(err)
	is.Equal(args, args2)
	is.Equal(planOutside(withLayers), planOutside(withoutLayers)) // one plan: only the layer files differ
	builtTag := "likebuilt-" + strings.TrimPrefix(b.Config.BundleTag, "pipelinetest-")
	builder := p.bundler(t, api, "BUNDLE_TAG="+builtTag, served)
	enginetest.Cleanup(t, api, builtTag)
	start := time.Now()
	builtID, err := builder.build(ctx, api, withLayers, args)
	is.NoErr(err)
	t.Logf("classic builder: %s in %s", builtID, time.Since(start).Round(time.Millisecond))
	built := inspectImage(t, api, builtTag)

	// The runtime configuration, every field the engine reads when it runs the image. Left out
	// on purpose: Created and History, the builder's record of its own work (an entry and a
	// timestamp per Dockerfile step, where the assembled image has one entry for its layer).
	is.Equal(configJSON(t, assembled.config), configJSON(t, built.config))
	is.Equal(assembled.config.Labels["io.dindbundler.engine-version"] != "", true) // the base's labels survive
	is.Equal(assembled.config.Env[len(assembled.config.Env)-1], "BUNDLE_PROJECT="+m.Build.Project)

	// The layers: both start with the base's; the assembled image is the layers image plus one
	// layer (the engine's layers reused, not copied). The builder's own layers (one per COPY and
	// the RUN) and its history entries are its way of getting there, so they are not compared.
	base := inspectImage(t, api, b.Config.DindBaseImage)
	is.True(len(built.layers) > len(base.layers))
	is.Equal(built.layers[:len(base.layers)], base.layers)
	is.Equal(assembled.layers[:len(base.layers)], base.layers)
	li, err := b.layersImage(ctx, api, set, store, baseID)
	is.NoErr(err)
	layersImage := inspectImage(t, api, li.ID)
	is.Equal(assembled.layers, append(append([]string{}, layersImage.layers...), assembled.layers[len(assembled.layers)-1]))

	// The files at the bundle's paths, as a container sees them. The builder's RUN rewrites
	// /app/.env (chown, chmod) and the entrypoint (chmod) in a layer of its own; the merged view
	// compared here is what runs, so that extra copy needs no normalising.
	registryBin := path.Join(dind.BinDir, buildctx.RegistryBinaryName)
	var parts []string // the entrypoint's sourced parts
	for _, part := range dind.RuntimeFiles() {
		parts = append(parts, path.Join(dind.BinDir, part.Installed))
	}
	paths := append([]string{"/app", dind.EntrypointPath, registryBin, "/root", "/images"}, parts...)
	want := filesOf(t, api, builtTag, paths)
	got := filesOf(t, api, b.Config.BundleTag, paths)
	for _, name := range append([]string{"/app/.env", "/app/compose.yml", "/app/config/app.conf", "/app/config/functions.yml", "/app/config/routing.yml", dind.EntrypointPath, "/root/.esb/certs", "/root/.esb/certs/server.key", "/images/manifest.json",
		registryBin, "/app/bundle/registry.json", "/app/bundle/served.txt"}, parts...) {
		if _, ok := want[name]; !ok {
			t.Errorf("the built bundle lacks %s: the comparison below would not see it", name)
		}
	}
	is.True(strings.HasPrefix(want["/app/.env"], "file -rw------- 0:0 "))            // the Dockerfile's RUN: root's, 0600
	is.True(strings.HasPrefix(want[registryBin], "file -rwxr-xr-x 0:0 "))            // the registry binary, executable
	is.Equal(want["/root/.esb/certs"], "dir drwxr-xr-x 1234:2345 0 -")               // COPY --chown applies to the directory too
	is.True(strings.HasPrefix(want["/app/config/app.conf"], "file -rw-r----- 0:0 ")) // its own mode kept
	// The directories above them, which COPY passes through and leaves as the base has them
	// (/root 0700): their own headers only, /usr is too large to read whole.
	dirs := []string{"/", "/usr", "/usr/local", "/usr/local/bin", "/root/.esb"}
	for name, h := range dirHeaders(t, api, builtTag, dirs) {
		want[name] = h
	}
	for name, h := range dirHeaders(t, api, b.Config.BundleTag, dirs) {
		got[name] = h
	}
	is.Equal(want["/root"][:len("dir drwx------ 0:0")], "dir drwx------ 0:0") // the base's, as COPY keeps it
	for _, name := range union(want, got) {
		if want[name] != got[name] {
			t.Errorf("%s:\n  built:     %s\n  assembled: %s", name, orMissing(want[name]), orMissing(got[name]))
		}
	}
}

// dirHeaders reads the type, mode and owner of each of paths in image, not their content.
func dirHeaders(t *testing.T, api client.APIClient, image string, paths []string) map[string]string {
	t.Helper()
	headers, err := engine.PathHeaders(context.Background(), api, image, paths)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, h := range headers {
		out[name] = fmt.Sprintf("%c %s %d:%d", h.Typeflag, h.FileInfo().Mode(), h.Uid, h.Gid)
	}
	return out
}

type inspected struct {
	config configView
	layers []string
}

// configView is the part of an image's configuration the engine uses at run time.
type configView struct {
	User         string
	ExposedPorts map[string]struct{}
	Env          []string
	Entrypoint   []string
	Cmd          []string
	Volumes      map[string]struct{}
	WorkingDir   string
	Labels       map[string]string
	StopSignal   string
	Healthcheck  any
	OnBuild      []string
	Shell        []string
}

func inspectImage(t *testing.T, api client.APIClient, ref string) inspected {
	t.Helper()
	info, found, err := engine.Inspect(context.Background(), api, ref)
	if err != nil || !found {
		t.Fatalf("inspect %s: found %t, %v", ref, found, err)
	}
	c := info.Config
	if c == nil {
		t.Fatalf("inspect %s: no configuration", ref)
	}
	v := configView{
		User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		Volumes: c.Volumes, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal,
		OnBuild: c.OnBuild, Shell: c.Shell,
	}
	if c.Healthcheck != nil {
		v.Healthcheck = *c.Healthcheck
	}
	return inspected{config: v, layers: info.RootFS.Layers}
}

func configJSON(t *testing.T, v configView) string {
	t.Helper()
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// filesOf reads paths out of image: one line per entry, "type mode uid:gid size sha256".
func filesOf(t *testing.T, api client.APIClient, image string, paths []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, f := range enginetest.ImageFiles(t, api, image, paths...) {
		kind, size, sum := "file", len(f.Content), fmt.Sprintf("%x", sha256.Sum256([]byte(f.Content)))
		if f.Dir {
			kind, sum = "dir", "-"
		}
		out[name] = fmt.Sprintf("%s %s %d:%d %d %s", kind, f.Mode, f.UID, f.GID, size, sum)
	}
	return out
}

// planOutside is the plan's entries but the layer files under images/.
func planOutside(entries []buildctx.Entry) []buildctx.Entry {
	var out []buildctx.Entry
	for _, e := range entries {
		if !(strings.HasPrefix(e.Name, "images/") && e.Addressed && strings.Contains(e.Name, ".tar")) {
			out = append(out, e)
		}
	}
	return out
}

func union(a, b map[string]string) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return s
}
