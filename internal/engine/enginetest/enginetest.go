// Package enginetest holds helpers for tests that talk to the real Docker engine: a client that
// fails loudly when no engine answers, tiny locally built images, an in-process registry to
// pull from, a client wrapper that counts the calls made through it, and the engine matrix
// (engines.go): the host's engine plus Engine 28.5 with the classic and the containerd image
// store, run as containers on it and selected with TEST_ENGINES. Starting and removing those
// engines is package matrix's (the benchmark uses it too); this kit ties them to a test binary.
//
// It is a test kit: it imports `testing` and must never be imported by shipped code
// (TestShippedCodeLinksNoTestKit checks the shipped entry points with `go list -deps`).
package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// SkipEnv set to 1 skips every test that needs a Docker engine.
const SkipEnv = "DINDBUNDLER_SKIP_DOCKER"

// SkipWithoutDocker skips the test when DINDBUNDLER_SKIP_DOCKER=1. Every test that needs an
// engine passes here, through Client, Each or SSHHost: that is the rule (TestEngineTestsSkip).
func SkipWithoutDocker(t testing.TB) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1: skipping a test that needs a Docker engine")
	}
}

// Client returns a client for the engine at DOCKER_HOST (or the default socket), closed when the
// test ends. The test is skipped only when DINDBUNDLER_SKIP_DOCKER=1; an engine that does not
// answer fails it, so a CI run without Docker cannot pass by skipping.
func Client(t testing.TB) *engine.Engine {
	t.Helper()
	SkipWithoutDocker(t)
	c, err := engine.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("no Docker engine answers (%v): start dockerd, e.g. run `scripts/with-docker go test ./...`, or set %s=1 to skip these tests", err, SkipEnv)
	}
	// Settle the API version now, so ClientVersion reports what the calls will use.
	c.NegotiateAPIVersion(ctx)
	return c
}

// Cleanup removes the images refs when the test ends, ignoring ones already gone.
func Cleanup(t testing.TB, api client.ImageAPIClient, refs ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := engine.Remove(ctx, api, refs...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// ImageOption adjusts what ScratchImage builds.
type ImageOption func(*imageSpec)

type imageSpec struct {
	from   string
	labels map[string]string
	cmd    []string
	volume string
	goPkg  string
}

// From builds on base instead of scratch, so images can share base layers.
func From(base string) ImageOption { return func(s *imageSpec) { s.from = base } }

// Labels sets image labels.
func Labels(l map[string]string) ImageOption { return func(s *imageSpec) { s.labels = l } }

// Cmd sets the image's CMD (exec form).
func Cmd(args ...string) ImageOption { return func(s *imageSpec) { s.cmd = args } }

// Volume declares path a VOLUME of the image, as docker:dind declares /var/lib/docker: every
// container created from it gets an anonymous volume there.
func Volume(path string) ImageOption { return func(s *imageSpec) { s.volume = path } }

// GoBinary compiles the Go package pkg (a directory like ./testdata/echo, or an import path) as
// a static linux binary (CGO_ENABLED=0) and makes it the image's entrypoint at /app, in its own
// layer after the files.
func GoBinary(pkg string) ImageOption { return func(s *imageSpec) { s.goPkg = pkg } }

// ScratchImage builds the image tag FROM scratch (or From's base) holding files (path in the
// image → content), each file its own COPY and so its own layer, in path order: two images whose
// first files are identical share those layers. The image is removed when the test ends. It
// returns the image ID.
func ScratchImage(t testing.TB, api client.APIClient, tag string, files map[string][]byte, opts ...ImageOption) string {
	t.Helper()
	var spec imageSpec
	for _, o := range opts {
		o(&spec)
	}
	var bin []byte
	if spec.goPkg != "" {
		bin = goBuild(t, spec.goPkg)
	}
	ctxTar, err := scratchContext(spec, files, bin)
	if err != nil {
		t.Fatalf("build context for %s: %v", tag, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	Cleanup(t, api, tag)
	var out bytes.Buffer
	// NoCache: the content is new every time, and the cache lookup of a FROM scratch build fails
	// when any other parentless image is removed meanwhile (tests running in parallel do that).
	id, err := engine.Build(ctx, api, bytes.NewReader(ctxTar), engine.BuildOptions{Tag: tag, Labels: spec.labels, NoCache: true}, &out)
	if err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, out.String())
	}
	// Also by ID: a test that builds the tag again would otherwise leave this image dangling.
	Cleanup(t, api, id)
	return id
}

// scratchContext writes the build context: a Dockerfile and each file under files/.
func scratchContext(spec imageSpec, files map[string][]byte, bin []byte) ([]byte, error) {
	from := spec.from
	if from == "" {
		from = "scratch"
	}
	paths := slices.Sorted(maps.Keys(files))

	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\n", from)
	type entry struct {
		name string
		data []byte
		mode int64
	}
	var entries []entry
	for i, p := range paths {
		dest := "/" + strings.TrimPrefix(filepath.ToSlash(p), "/")
		src := fmt.Sprintf("files/%d", i)
		fmt.Fprintf(&df, "COPY [%q, %q]\n", src, dest)
		entries = append(entries, entry{src, files[p], 0o644})
	}
	if bin != nil {
		df.WriteString("COPY [\"app\", \"/app\"]\nENTRYPOINT [\"/app\"]\n")
		entries = append(entries, entry{"app", bin, 0o755})
	}
	if spec.volume != "" {
		fmt.Fprintf(&df, "VOLUME [%s]\n", quoteAll([]string{spec.volume}))
	}
	if len(spec.cmd) > 0 {
		fmt.Fprintf(&df, "CMD [%s]\n", quoteAll(spec.cmd))
	}
	entries = append([]entry{{"Dockerfile", []byte(df.String()), 0o644}}, entries...)

	var buf bytes.Buffer
	// tarball's fixed time keeps identical files identical layers across builds.
	tw := tarball.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.File(e.name, e.mode, e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ", ")
}

// goBuild compiles pkg as a static linux binary for the engine's usual architecture (the
// host's) and returns it.
func goBuild(t testing.TB, pkg string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
