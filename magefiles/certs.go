//go:build mage

package main

import (
	"context"

	"github.com/dindbundler/dindbundler/pipeline"
)

// Aliases gives the opt-in certificate generator its documented name, certs:generate (a
// namespace would clash with the Certs target).
var Aliases = map[string]interface{}{
	"certs:generate": CertsGenerate,
}

// CertsGenerate (alias certs:generate) creates a development CA plus server and client
// certificates in CERT_DIR; existing files are never overwritten.
func CertsGenerate(ctx context.Context) error {
	return pipeline.Run(ctx, (*pipeline.Bundler).GenerateCerts)
}
