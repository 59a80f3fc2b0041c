//go:build mage

package main

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/dindbundler/dindbundler/dindbase"
	"github.com/dindbundler/dindbundler/engine"
)

// Dindbase builds the Debian bookworm DinD base image (debootstrap + compose v2 plugin, no
// registry) unless it already exists.
func Dindbase(ctx context.Context) error {
	api, err := engine.New()
	if err != nil {
		return err
	}
	defer api.Close()
	_, err = dindbase.Ensure(ctx, api, dindbase.Options{Progress: os.Stderr, Verbose: mg.Verbose()})
	return err
}
