//go:build mage

package main

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/dindbundler/dindbundler/dindbase"
)

// Dindbase builds the Debian bookworm DinD base image dindbundler/dind-base:bookworm (debootstrap
// + the compose v2 plugin, no registry) unless it already exists.
func Dindbase(ctx context.Context) error {
	return dindbase.EnsureDefault(ctx, os.Stderr, mg.Verbose())
}
