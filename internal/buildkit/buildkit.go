// Package buildkit is the project's one way to build images on BuildKit: the engine's own
// (reached through the engine API's /grpc and /session endpoints, as buildx's docker driver does)
// or a standalone buildkitd (BUILDKIT_HOST). It runs the Dockerfile frontend on a build context
// directory and lands the image in the bundling engine: through the engine's own image store
// (the moby exporter) or, from a standalone buildkitd, through an OCI layout on this machine
// whose missing layers alone go into the engine (internal/ocilayout; layout.go).
//
// Like internal/engine it owns no files and no plans: it does not know the bundle, the manifest
// or what is built; it must not import `testing`.
package buildkit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/docker/docker/client"
	bkclient "github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer" // BUILDKIT_HOST=docker-container://NAME
	_ "github.com/moby/buildkit/client/connhelper/ssh"             // BUILDKIT_HOST=ssh://[USER@]HOST[:PORT][/SOCKET]: buildctl dial-stdio there
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// HostVariable names a standalone buildkitd to build on instead of the engine's own BuildKit.
const HostVariable = "BUILDKIT_HOST"

// Builder is a BuildKit that builds into the bundling engine.
type Builder struct {
	c   *bkclient.Client
	api client.APIClient
	// Where is the BuildKit, for messages: "the engine's BuildKit" or the BUILDKIT_HOST address.
	Where string
	// standalone: the image comes back into an OCI layout and goes into the engine through
	// loader (solveThroughLayout); otherwise the engine's own BuildKit stores it (the moby
	// exporter).
	standalone bool
	loader     *ocilayout.Loader
	// exportsCache: the engine's own BuildKit exports caches (local, registry) only on the
	// containerd image store ("unknown cache exporter" on the classic one); buildkitd always.
	exportsCache bool
}

// KeepsImages reports whether a build can also keep its image in an OCI layout (Build.KeepIn)
// that is byte for byte the engine's: the engine's own BuildKit on the containerd image store,
// which accepts a second exporter (the engine's image ID is then the layout's manifest digest).
// Its BuildKit on the classic store has no oci exporter; Engine 20.10's ignores a second one.
// A standalone buildkitd could, but its image reaches the engine as a docker archive (not done).
func (b *Builder) KeepsImages() bool { return !b.standalone && b.exportsCache }

// ExportsCache reports whether this BuildKit can import and export a build cache (BUILD_CACHE).
func (b *Builder) ExportsCache() bool { return b.exportsCache }

// probeTimeout bounds the question "does this endpoint run BuildKit": an engine without it
// answers /grpc at once with an error; a standalone buildkitd that is not there refuses the
// connection.
const probeTimeout = 20 * time.Second

// Connect reaches the BuildKit at host (a BUILDKIT_HOST address: tcp://, unix://,
// docker-container://), or the engine's own when host is "", and checks that it answers. An
// engine without BuildKit (Engine 20.10 without the feature enabled) is an error the caller may
// take as the reason to fall back to the classic builder.
func Connect(ctx context.Context, api client.APIClient, host string) (*Builder, error) {
	QuietStoreLogs()
	b := &Builder{api: api, Where: "the engine's BuildKit", standalone: host != "", exportsCache: host != ""}
	var err error
	if host == "" {
		var store engine.ImageStore
		if store, err = engine.Of(api).Store(ctx); err != nil {
			return nil, err
		}
		b.exportsCache = store == engine.ContainerdStore
		// The engine hijacks these two endpoints into BuildKit's gRPC API and its session.
		b.c, err = bkclient.New(ctx, "",
			bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				return api.DialHijack(ctx, "/grpc", "h2c", nil)
			}),
			bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
				return api.DialHijack(ctx, "/session", proto, meta)
			}))
	} else {
		b.Where = HostVariable + "=" + host
		b.c, err = bkclient.New(ctx, host)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.Where, err)
	}
	if err := b.Answers(ctx, probeTimeout); err != nil {
		b.c.Close()
		return nil, err
	}
	return b, nil
}

// QuietStoreLogs keeps BuildKit's client and containerd's local content store (a local cache's,
// an OCI layout's) to errors: both log through logrus's standard logger, the store a warning
// each time it opens a directory whose file system lacks fs-verity; the progress display is the
// output. Connect calls it; so does whoever opens such a store without connecting.
func QuietStoreLogs() { logrus.SetLevel(logrus.ErrorLevel) }

// Answers asks the BuildKit for its workers, within timeout: an error says it is gone (or
// never was), which a failed build alone does not — a Dockerfile's error leaves it answering.
func (b *Builder) Answers(ctx context.Context, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	workers, err := b.c.ListWorkers(pctx)
	if err == nil && len(workers) == 0 {
		err = errors.New("it has no worker")
	}
	if err != nil {
		return fmt.Errorf("%s does not answer: %w", b.Where, err)
	}
	return nil
}

// LoadThrough sets where a standalone buildkitd's images go: into loader's OCI layout, then into
// loader's engine. One loader serves every builder of a run that builds into the same engine
// (each layer the engine lacks is sent once); the engine's own BuildKit does not use it.
func (b *Builder) LoadThrough(loader *ocilayout.Loader) { b.loader = loader }

// Standalone reports whether this is a standalone buildkitd (its images go through an OCI
// layout, LoadThrough) rather than the engine's own BuildKit.
func (b *Builder) Standalone() bool { return b.standalone }

// Close ends the connection.
func (b *Builder) Close() error { return b.c.Close() }

// Build is one image to build with the Dockerfile frontend.
type Build struct {
	Name       string // name:tag the image gets in the engine
	ContextDir string // the build context, a directory
	Dockerfile string // its slash path inside ContextDir; "" is "Dockerfile"
	BuildArgs  map[string]string
	Labels     map[string]string
	Platform   string // "os/arch"; "" lets BuildKit choose
	Target     string
	NoCache    bool
	// CacheFrom and CacheTo are BuildKit cache imports and exports (--cache-from, --cache-to).
	CacheFrom, CacheTo []CacheEntry
	// KeepIn, when set, is a content store (an ocilayout.Layout's Store) the image is also
	// exported into, in the same solve (BuildKit's oci exporter, tar=false): only the blobs the
	// store lacks are sent. Concurrent builds must share one store: two instances of
	// containerd's local store on one directory break each other's writes of a blob both
	// export. Only where KeepsImages says so.
	KeepIn content.Store
}

// CacheEntry is one cache import or export: its type (local, registry, …) and attributes.
type CacheEntry struct {
	Type  string
	Attrs map[string]string
}

// Steps is what a build's progress said of its Dockerfile steps.
type Steps struct {
	Total  int
	Cached []string // names of the steps taken from the cache
	Ran    []Step   // the steps that ran
	// Failed is the output of the step that failed, for the error message; "" when none did.
	Failed string
}

// Step is one step that ran. Builds solved at once that share a step show the same run: the
// same vertex, started at the same time.
type Step struct {
	Name    string
	Vertex  string // the step's digest in the build graph
	Started time.Time
}

// Build builds bd into the engine, reporting its progress to view, and returns the image's ID
// in the engine and what ran.
func (b *Builder) Build(ctx context.Context, bd Build, view *View) (string, Steps, error) {
	fs, err := fsutil.NewFS(bd.ContextDir)
	if err != nil {
		return "", Steps{}, fmt.Errorf("build %s: open the build context: %w", bd.Name, err)
	}
	dockerfile := bd.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	attrs := map[string]string{"filename": dockerfile}
	if bd.Target != "" {
		attrs["target"] = bd.Target
	}
	if bd.Platform != "" {
		attrs["platform"] = bd.Platform
	}
	if bd.NoCache {
		attrs["no-cache"] = ""
	}
	for k, v := range bd.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range bd.Labels {
		attrs["label:"+k] = v
	}
	cacheFrom := bd.CacheFrom
	for i := 0; i < len(cacheFrom); i++ {
		if e := cacheFrom[i]; e.Type == "local" && !exists(filepath.Join(e.Attrs["src"], "index.json")) {
			cacheFrom = slices.Delete(slices.Clone(cacheFrom), i, i+1) // nothing exported there yet
			i--
		}
	}
	for _, e := range bd.CacheTo {
		if e.Type == "local" {
			if err := ShareLocalBlobs(e.Attrs["dest"]); err != nil {
				return "", Steps{}, fmt.Errorf("build %s: %w", bd.Name, err)
			}
		}
	}
	opt := bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		// The daemon keeps each local source's last transfer under its name and this key, to
		// send only differences next time: a key per image, or concurrent builds would read
		// each other's context (seen on Engine 20.10: another build's Dockerfile).
		SharedKey:    "dindbundler:" + bd.Name,
		Session:      []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{})},
		CacheImports: cacheEntries(cacheFrom),
		CacheExports: cacheEntries(bd.CacheTo),
	}

	if b.standalone && b.loader == nil {
		return "", Steps{}, fmt.Errorf("build %s on %s: no OCI layout to export into (the caller must call LoadThrough)", bd.Name, b.Where)
	}
	if !b.standalone {
		opt.Exports = []bkclient.ExportEntry{{Type: "moby", Attrs: map[string]string{"name": bd.Name}}}
	}
	if bd.KeepIn != nil && !b.standalone {
		// The same manifest as the engine's image (its ID on the containerd store): the engine's
		// image exporter writes Docker media types, the oci exporter OCI ones unless told.
		opt.Exports[0].Attrs["oci-mediatypes"] = "false"
		opt.Exports = append(opt.Exports, bkclient.ExportEntry{Type: bkclient.ExporterOCI, OutputStore: bd.KeepIn,
			Attrs: map[string]string{"tar": "false", "oci-mediatypes": "false", "name": bd.Name}})
	}
	g, gctx := errgroup.WithContext(ctx)
	status := make(chan *bkclient.SolveStatus)
	track := view.track(bd.Name)
	g.Go(func() error {
		for s := range status {
			track.update(s)
		}
		return nil
	})
	g.Go(func() error {
		if b.standalone {
			return solveThroughLayout(gctx, b.c, opt, bd.Name, b.loader, status)
		}
		_, err := b.c.Solve(gctx, nil, opt, status) // closes status
		return err
	})
	err = g.Wait()
	steps := track.finish(err)
	if err != nil {
		return "", steps, fmt.Errorf("build %s on %s: %w", bd.Name, b.Where, err)
	}
	info, found, err := engine.Inspect(ctx, b.api, bd.Name)
	if err == nil && !found {
		err = errors.New("the engine does not have it after the build")
	}
	if err != nil {
		return "", steps, fmt.Errorf("build %s: find the built image: %w", bd.Name, err)
	}
	return info.ID, steps, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func cacheEntries(in []CacheEntry) []bkclient.CacheOptionsEntry {
	var out []bkclient.CacheOptionsEntry
	for _, e := range in {
		out = append(out, bkclient.CacheOptionsEntry{Type: e.Type, Attrs: maps.Clone(e.Attrs)})
	}
	return out
}

// ParseCache reads a cache setting as buildx's --cache-from/--cache-to write it:
// "type=local,dest=DIR" or "type=registry,ref=NAME" (comma-separated key=value pairs).
func ParseCache(s string) (CacheEntry, error) {
	e := CacheEntry{Attrs: map[string]string{}}
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || k == "" {
			return CacheEntry{}, fmt.Errorf("%q: each field must be key=value (type=local,dest=DIR or type=registry,ref=NAME)", s)
		}
		if k == "type" {
			e.Type = v
			continue
		}
		e.Attrs[k] = v
	}
	if e.Type == "" {
		return CacheEntry{}, fmt.Errorf("%q names no type: start with type=local or type=registry", s)
	}
	return e, nil
}
