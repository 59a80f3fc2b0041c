// Package buildkit is the project's one way to build images on BuildKit: the engine's own
// (reached through the engine API's /grpc and /session endpoints, as buildx's docker driver does),
// a standalone buildkitd (BUILDKIT_HOST), or another engine's own. It runs the Dockerfile
// frontend on a build context directory and lands the image in the bundling engine: through the
// engine's own image store (the moby exporter); from a standalone buildkitd or another engine's
// BuildKit on the containerd image store, through an OCI layout on this machine whose missing
// layers alone go into the engine (internal/ocilayout; layout.go); from another engine on the
// classic image store, stored in that engine, then saved from it into the same layout (whole:
// Docker has no partial save) and loaded from there like the others.
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
	"sync"
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
	api client.APIClient // the bundling engine, where the images land
	// Where is the BuildKit, for messages: "the engine's BuildKit", the BUILDKIT_HOST address,
	// or the BUILDERS entry of another engine.
	Where string
	land  landing
	// builderEngine is the other engine whose BuildKit this is (ConnectEngine), nil otherwise;
	// on the classic store its images are saved from it (landSaved).
	builderEngine *engine.Engine
	// loader takes images exported (landLayout) or saved (landSaved) into an OCI layout into the
	// bundling engine.
	loader *ocilayout.Loader
	// exportsCache: the engine's own BuildKit exports caches (local, registry) only on the
	// containerd image store ("unknown cache exporter" on the classic one); buildkitd always.
	exportsCache bool

	mu   sync.Mutex
	lost error // why the builder was found gone; it is not asked again
}

// landing is how a built image reaches the bundling engine.
type landing int

const (
	// landInEngine: the bundling engine's own BuildKit stores it (the moby exporter).
	landInEngine landing = iota
	// landLayout: it comes back into an OCI layout on this machine (the oci exporter) and goes
	// into the bundling engine with only the layers that engine lacks — a standalone buildkitd,
	// or another engine's BuildKit on the containerd image store.
	landLayout
	// landSaved: another engine's BuildKit on the classic image store, whose only image
	// exporter is moby (no oci exporter on that store), stores it in that engine; one `docker
	// save` of it then streams into the OCI layout on this machine (blobs the layout has are not
	// written again) and it goes into the bundling engine like landLayout's, with only the
	// layers that engine lacks. The save is whole — every layer crosses from that engine to
	// this machine, its base too: Docker has no partial save — but what the bundling engine has
	// does not cross again (it was a whole save → load before).
	landSaved
)

// KeepsImages reports whether a build's image can also be kept in an OCI layout of a local
// BUILD_CACHE: the engine's own BuildKit on the containerd image store exports it there in the
// same solve (Build.KeepIn, a second exporter; the engine's image ID is then the layout's
// manifest digest); a builder whose images come back into the run's OCI layout (ExportsToLayout:
// a standalone buildkitd, another engine on the containerd store) has it there already, and the
// caller takes it from that layout. Not the engine's BuildKit on the classic store (no oci
// exporter; Engine 20.10's ignores a second one), nor another engine on the classic store (its
// image is saved from that engine into the run's layout): neither exports a build cache either.
func (b *Builder) KeepsImages() bool {
	return b.exportsCache && (b.land == landInEngine || b.land == landLayout)
}

// ExportsCache reports whether this BuildKit can import and export a build cache (BUILD_CACHE).
func (b *Builder) ExportsCache() bool { return b.exportsCache }

// probeTimeout bounds the question "does this endpoint run BuildKit": an engine without it
// answers /grpc at once with an error; a standalone buildkitd that is not there refuses the
// connection.
const probeTimeout = 20 * time.Second

// LostProbeTimeout bounds the question asked after a failed build: does its builder still answer?
const LostProbeTimeout = 10 * time.Second

// Connect reaches the BuildKit at host (a BUILDKIT_HOST address: tcp://, unix://,
// docker-container://, ssh://), or the engine's own when host is "", and checks that it
// answers. An engine without BuildKit (Engine 20.10 without the feature enabled) is an error
// the caller may take as the reason to fall back to the classic builder.
func Connect(ctx context.Context, api client.APIClient, host string) (*Builder, error) {
	QuietStoreLogs()
	b := &Builder{api: api, Where: "the engine's BuildKit", land: landLayout, exportsCache: true}
	var err error
	if host == "" {
		var store engine.ImageStore
		if store, err = engine.Of(api).Store(ctx); err != nil {
			return nil, err
		}
		b.land, b.exportsCache = landInEngine, store == engine.ContainerdStore
		b.c, err = dialEngine(ctx, api)
	} else {
		b.Where = HostVariable + "=" + host
		b.c, err = bkclient.New(ctx, host)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.Where, err)
	}
	if err := b.answers(ctx, probeTimeout); err != nil {
		b.c.Close()
		return nil, err
	}
	return b, nil
}

// ConnectEngine reaches the BuildKit of builder, another engine than the bundling one (api),
// named where in messages, and checks that it answers; the Builder closes builder. On the
// containerd image store that BuildKit sends its images back into an OCI layout, as a standalone
// buildkitd does; on the classic store it can only store them in its own engine, from which
// each is then saved into that layout (landSaved), and it has no build cache to import or
// export. Either way the Builder needs LoadThrough.
func ConnectEngine(ctx context.Context, api client.APIClient, builder *engine.Engine, where string) (*Builder, error) {
	QuietStoreLogs()
	b := &Builder{api: api, Where: where, builderEngine: builder}
	store, err := builder.Store(ctx)
	if err != nil {
		return nil, &NoAnswerError{Where: where, Err: err}
	}
	b.land, b.exportsCache = landSaved, false
	if store == engine.ContainerdStore {
		b.land, b.exportsCache = landLayout, true
	}
	if b.c, err = dialEngine(ctx, builder); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	if err := b.answers(ctx, probeTimeout); err != nil {
		b.c.Close()
		return nil, err
	}
	return b, nil
}

// QuietStoreLogs keeps BuildKit's client and containerd's local content store (a local cache's,
// an OCI layout's) to errors: both log through logrus's standard logger, the store a warning
// each time it opens a directory whose file system lacks fs-verity; the progress display is the
// output. Connect and ConnectEngine call it; so does whoever opens such a store without connecting.
func QuietStoreLogs() { logrus.SetLevel(logrus.ErrorLevel) }

// dialEngine is a client of api's own BuildKit: the engine hijacks these two endpoints into
// BuildKit's gRPC API and its session, as buildx's docker driver uses them.
func dialEngine(ctx context.Context, api client.APIClient) (*bkclient.Client, error) {
	return bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		}))
}

// Answers asks the BuildKit for its workers, within timeout: an error says it is gone (or
// never was), which a failed build alone does not — a Dockerfile's error leaves it answering.
// A builder found gone once is not asked again.
func (b *Builder) Answers(ctx context.Context, timeout time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost == nil {
		b.lost = b.answers(ctx, timeout)
	}
	return b.lost
}

func (b *Builder) answers(ctx context.Context, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	workers, err := b.c.ListWorkers(pctx)
	if err == nil && len(workers) == 0 {
		err = errors.New("it has no worker")
	}
	if err != nil {
		return &NoAnswerError{Where: b.Where, Err: err}
	}
	return nil
}

// NoAnswerError is a builder that did not answer when asked for its workers.
type NoAnswerError struct {
	Where string
	Err   error
}

func (e *NoAnswerError) Error() string { return e.Where + " does not answer: " + e.Err.Error() }
func (e *NoAnswerError) Unwrap() error { return e.Err }

// LostError is a build that failed because its builder stopped answering: the image is not at
// fault and may be built elsewhere. Build leaves its progress line to the caller, which says
// where the image went (View.Requeued).
type LostError struct{ Err error }

func (e *LostError) Error() string { return e.Err.Error() }
func (e *LostError) Unwrap() error { return e.Err }

// LoadThrough sets where the images of a builder that lands them through a layout
// (ExportsToLayout) go: into loader's OCI layout, then into loader's engine. One loader serves
// every builder of a run that builds into the same engine (each layer the engine lacks is sent
// once, whichever builder's image brings it).
func (b *Builder) LoadThrough(loader *ocilayout.Loader) { b.loader = loader }

// ExportsToLayout reports whether this builder's images come back into an OCI layout on this
// machine (LoadThrough): a standalone buildkitd and another engine's BuildKit on the containerd
// image store export there; another engine on the classic store is saved there from its store.
// Not the bundling engine's own BuildKit.
func (b *Builder) ExportsToLayout() bool { return b.land == landLayout || b.land == landSaved }

// Close ends the connection (and the other engine's handle).
func (b *Builder) Close() error {
	err := b.c.Close()
	if b.builderEngine != nil {
		err = errors.Join(err, b.builderEngine.Close())
	}
	return err
}

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
	// export. Only for the engine's own BuildKit (KeepsImages; a builder that ExportsToLayout
	// ignores it: its image is in the run's layout).
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

	if b.ExportsToLayout() && b.loader == nil {
		return "", Steps{}, fmt.Errorf("build %s on %s: no OCI layout to bring the image into (the caller must call LoadThrough)", bd.Name, b.Where)
	}
	if b.land != landLayout {
		opt.Exports = []bkclient.ExportEntry{{Type: "moby", Attrs: map[string]string{"name": bd.Name}}}
	}
	if bd.KeepIn != nil && b.land == landInEngine {
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
		if b.land == landLayout {
			return solveThroughLayout(gctx, b.c, opt, bd.Name, b.loader, status)
		}
		_, err := b.c.Solve(gctx, nil, opt, status) // closes status
		return err
	})
	err = g.Wait()
	if err == nil && b.land == landSaved {
		track.v.lines.Set(bd.Name, "saving the image from "+b.Where+" into the OCI layout")
		var line string
		line, err = loadSaved(ctx, b.builderEngine, b.Where, bd.Name, b.loader)
		if err == nil {
			track.v.lines.Print(bd.Name + ": " + line + "\n")
		}
	}
	if err != nil && ctx.Err() == nil {
		// A builder that no longer answers failed the build, not the image.
		if gone := b.Answers(ctx, LostProbeTimeout); gone != nil {
			err = &LostError{Err: gone}
		}
	}
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
