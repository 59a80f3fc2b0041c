// Package dev is the developer harness's Mage targets: the demo stack and the benchmark. They
// live apart from package targets so that a project importing dindbundler's targets gets the
// product only. Each target is one call into dev/demo or dev/bench. Package dev must not be
// imported by shipped code (targets, pipeline, producer, cmd).
package dev

import (
	"context"
	"os"

	"github.com/dindbundler/dindbundler/dev/bench"
	"github.com/dindbundler/dindbundler/dev/demo"
)

// Demo bundles examples/demo on a fresh checkout: local base and runtime images, development
// certificates, then the whole pipeline (tag dindbundler-demo:latest unless BUNDLE_TAG is set).
func Demo(ctx context.Context) error { return demo.Bundle(ctx, os.Environ(), os.Stderr) }

// Bench measures the pipeline against the seed tool's docker save + docker build on a synthetic
// stack (BENCH_SIZE, default 1GiB; BENCH_IMAGES, 8; BENCH_COMPRESSIBLE, 0.5; BENCH_COMPRESSIONS,
// none,gzip,zstd) on each engine of BENCH_ENGINES (default host; e.g. host,28-classic,28-containerd),
// full runs BENCH_RUNS and boots BENCH_BOOTS times (default 1), and writes the table to
// BUILD_DIR/bench/results.{txt,md,json}.
func Bench(ctx context.Context) error { return bench.Main(ctx, os.Stdout, os.Stderr) }
