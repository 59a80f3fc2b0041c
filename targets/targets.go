// Package targets is dindbundler's Mage targets as an ordinary, importable package: the bundle
// chain (Certs → Deploy → Manifest → Pull → Save → Image), certs:generate and the DinD base image.
// This repository's magefiles/ imports it, and so can any other project's:
//
//	//go:build mage
//	package main
//
//	import (
//		//mage:import
//		_ "github.com/dindbundler/dindbundler/targets"
//	)
//
// Each target is one call into package pipeline, which owns the stages, their order and their
// configuration; nothing here decides anything.
package targets

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/pipeline"
)

// Certs checks CERT_DIR (rootCA.crt, server certificate chain and expiry). It never creates certificates.
func Certs(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepCerts) }

// Deploy runs the producer for every TEMPLATE whose images or manifest are out of date.
func Deploy(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepDeploy) }

// Manifest merges the per-template manifests into BUILD_DIR/bundle/manifest.json.
func Manifest(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepManifest) }

// Pull fetches the manifest's external images that are missing locally.
func Pull(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepPull) }

// Save files every manifest image in the layer store (BUILD_DIR/layers): each layer once, by digest; only new images are exported.
func Save(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepSave) }

// Image builds the bundle image (BUNDLE_TAG) from dind/, the stack's files and the stored layers.
func Image(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepImage) }

// Bundle runs the whole pipeline: the default target.
func Bundle(ctx context.Context) error { return pipeline.RunThrough(ctx, pipeline.StepImage) }

// Export writes the bundle as one file for the target machine: BUILD_DIR/<name>.tar.gz
// (EXPORT_COMPRESSION) with its .sha256 and load.sh; with EXPORT_AGAINST (a previous export file
// or bundle tag) only the layers that bundle lacks.
func Export(ctx context.Context) error {
	mg.CtxDeps(ctx, Image)
	return pipeline.RunStage(ctx, "export", (*pipeline.Bundler).Export)
}

// Inspect prints what a bundle carries: images (kind, size, compressed), shared layers, compose
// services, certificates and expiry, .env keys. INSPECT_BUNDLE: a tag (default BUNDLE_TAG) or an
// exported file; INSPECT_FORMAT=json for scripts.
func Inspect(ctx context.Context) error { return pipeline.Run(ctx, (*pipeline.Bundler).Inspect) }

// CertsGenerate (alias certs:generate) creates a development CA plus server and client
// certificates in CERT_DIR; existing files are never overwritten.
func CertsGenerate(ctx context.Context) error {
	return pipeline.Run(ctx, (*pipeline.Bundler).GenerateCerts)
}

// Dindbase builds the Debian DinD base image dindbundler/dind-base (debootstrap, no registry)
// unless it already exists.
func Dindbase(ctx context.Context) error {
	return base.EnsureDefault(ctx, os.Stderr, mg.Verbose())
}
