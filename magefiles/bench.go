//go:build mage

package main

import (
	"context"
	"os"

	"github.com/dindbundler/dindbundler/bench"
)

// Bench measures the pipeline against the seed tool's docker save + docker build on a synthetic
// stack (BENCH_SIZE, default 1GiB; BENCH_IMAGES, 8; BENCH_COMPRESSIBLE, 0.5; BENCH_COMPRESSIONS,
// none,gzip,zstd) and writes the table to BUILD_DIR/bench/results.{txt,md,json}.
func Bench(ctx context.Context) error {
	return bench.Main(ctx, os.Stdout, os.Stderr)
}
