//go:build mage

// The bundle pipeline, one target per stage: Certs → Deploy → Manifest → Pull → Save → Image.
// Every target runs its prerequisites first and skips work whose inputs did not change; the
// logic lives in package pipeline.
package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/dindbundler/dindbundler/pipeline"
)

// Default is what `go run magefile.go` runs with no target.
var Default = Bundle

// Certs checks CERT_DIR (rootCA.crt, server certificate chain and expiry). It never creates certificates.
func Certs(ctx context.Context) error {
	return pipeline.Run(ctx, (*pipeline.Bundler).Certs)
}

// Deploy runs the producer for every TEMPLATE whose images or manifest are out of date.
func Deploy(ctx context.Context) error {
	mg.CtxDeps(ctx, Certs)
	return pipeline.Run(ctx, (*pipeline.Bundler).Deploy)
}

// Manifest merges the per-template manifests into BUILD_DIR/bundle/manifest.json.
func Manifest(ctx context.Context) error {
	mg.CtxDeps(ctx, Deploy)
	return pipeline.Run(ctx, (*pipeline.Bundler).Manifest)
}

// Pull fetches the manifest's external images that are missing locally.
func Pull(ctx context.Context) error {
	mg.CtxDeps(ctx, Manifest)
	return pipeline.Run(ctx, (*pipeline.Bundler).Pull)
}

// Save files every manifest image in the layer store (BUILD_DIR/layers): each layer once, by digest; only new images are exported.
func Save(ctx context.Context) error {
	mg.CtxDeps(ctx, Pull)
	return pipeline.Run(ctx, (*pipeline.Bundler).Save)
}

// Image builds the bundle image (BUNDLE_TAG) from dind/, the stack's files and the stored layers.
func Image(ctx context.Context) error {
	mg.CtxDeps(ctx, Save)
	return pipeline.Run(ctx, (*pipeline.Bundler).Image)
}

// Bundle runs the whole pipeline: the default target.
func Bundle(ctx context.Context) error {
	mg.CtxDeps(ctx, Image)
	return nil
}
