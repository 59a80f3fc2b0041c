// Command prewarm builds, before the tests need them, the images a test run builds from nothing
// on a fresh machine: the DinD bases (debootstrap of three Debian suites; forky's is also the
// engine matrix's image), the demo's Debian root filesystem, the builders' stand-in build
// images, and the standalone-BuildKit tests' buildkitd and buildctl (compiled from the module). They are mostly network- and disk-bound, so a few at a time overlap with each other and
// with the CPU-bound tests, where the tests alone would build each in turn when the first test
// needs it. scripts/test starts it in the background before `go test`.
//
// Each image is built under its tag's lock (internal/buildlock): a test that wants an image
// prewarm is building waits for it and then finds it; a test that got there first builds it, and
// prewarm finds it. Nothing here changes what a test checks, and a failure here only means the
// tests build that image themselves. Output: one line per image, plus the builds' progress.
//
// Usage: go run ./dev/prewarm [-jobs N]. It is a developer harness: never imported.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
)

func main() {
	jobs := flag.Int("jobs", 3, "images built at once")
	timeout := flag.Duration("timeout", 45*time.Minute, "give up after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, os.Stdout, *jobs); err != nil {
		fmt.Fprintf(os.Stdout, "prewarm: %v\n", err)
		os.Exit(1)
	}
}

// image is one image of the plan: its name for the log and how to make sure it exists.
type image struct {
	name   string
	ensure func(ctx context.Context, api client.APIClient, progress io.Writer) (built bool, err error)
}

// plan lists the images in the order they start, jobs at a time: the engine matrix's image
// first (the first test on a matrix engine needs it within a minute), then bookworm's base
// (about 2 min like the others, its compose plugin downloaded from trixie's package; only
// dind/dindtest needs it), then the default base for dev/bench, dev/demo and dev/e2e, the demo's root filesystem, and the builders' stand-ins for internal/buildkit and
// producer/... (go test -p 1 runs the packages in import-path order).
func plan() []image {
	suite := func(s string) image {
		return image{name: base.TagFor(s), ensure: func(ctx context.Context, api client.APIClient, progress io.Writer) (bool, error) {
			return base.Ensure(ctx, api, base.Options{Suite: s, Progress: progress})
		}}
	}
	standIn := func(name string, pkgs []string) image {
		return image{name: name, ensure: func(ctx context.Context, api client.APIClient, progress io.Writer) (bool, error) {
			_, built, err := builderstest.EnsureStandIn(ctx, api, progress, pkgs...)
			return built, err
		}}
	}
	// A binary, not an image: the standalone-BuildKit tests' buildkitd (3 min of CPU cold).
	goCommand := func(name string) image {
		return image{name: name + " (BuildKit module)", ensure: func(context.Context, client.APIClient, io.Writer) (bool, error) {
			_, err := buildkittest.Build(name)
			return false, err
		}}
	}
	return []image{
		suite(base.MatrixSuite),
		suite("bookworm"),
		suite(base.DefaultSuite),
		{name: demo.RootfsTag(), ensure: func(ctx context.Context, api client.APIClient, progress io.Writer) (bool, error) {
			_, built, err := demo.EnsureRootfs(ctx, api, progress)
			return built, err
		}},
		standIn("the builders' stand-in", builderstest.StandInPackages),
		standIn("the builders' Java stand-in", builderstest.JavaPackages),
		goCommand("buildkitd"),
		goCommand("buildctl"),
	}
}

// run ensures every image of plan, jobs at a time, and returns the failures joined.
func run(ctx context.Context, out io.Writer, jobs int) error {
	api, err := engine.New()
	if err != nil {
		return fmt.Errorf("connect to the engine the images are built on: %w", err)
	}
	defer api.Close()
	w := &lockedWriter{w: out}
	images := plan()
	start := time.Now()
	fmt.Fprintf(w, "prewarm: %d images, %d at a time\n", len(images), jobs)
	slots := make(chan struct{}, max(jobs, 1))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for _, img := range images {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			built, err := img.ensure(ctx, api, w)
			took := time.Since(t0).Round(time.Second)
			switch {
			case err != nil:
				fmt.Fprintf(w, "prewarm: %s failed after %s: %v\n", img.name, took, err)
				mu.Lock()
				failed = append(failed, img.name)
				mu.Unlock()
			case built:
				fmt.Fprintf(w, "prewarm: %s built in %s\n", img.name, took)
			default:
				fmt.Fprintf(w, "prewarm: %s ready after %s\n", img.name, took)
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(w, "prewarm: done in %s\n", time.Since(start).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed (%v); the tests that need them build them again", len(failed), len(images), failed)
	}
	return nil
}

// lockedWriter lets the concurrent builds share one output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
