//go:build mage

package main

import (
	"context"
	"os"

	"github.com/dindbundler/dindbundler/demo"
)

// Demo bundles examples/demo on a fresh checkout: local base and runtime images, development
// certificates, then the whole pipeline (tag dindbundler-demo:latest unless BUNDLE_TAG is set).
func Demo(ctx context.Context) error {
	return demo.Bundle(ctx, os.Environ(), os.Stderr)
}
