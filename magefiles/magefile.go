//go:build mage

// The bundle pipeline, one target per stage: Certs → Deploy → Manifest → Pull → Save → Image,
// from package targets (importable by any project), and the developer harness from package dev.
// This file only imports them: a target written here could not be reused by another project.
package main

import (
	//mage:import
	"github.com/dindbundler/dindbundler/targets"
	//mage:import
	_ "github.com/dindbundler/dindbundler/dev"
)

// Default is what `go run magefile.go` runs with no target.
var Default = targets.Bundle

// Aliases gives the opt-in certificate generator its documented name, certs:generate (a
// namespace would clash with the Certs target).
var Aliases = map[string]interface{}{
	"certs:generate": targets.CertsGenerate,
}
