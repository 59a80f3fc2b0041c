// Package dind carries the bundle's runtime files (Dockerfile, entrypoint.sh, build.sh). They are
// embedded so the pipeline finds them wherever it runs — also from a project that imports these
// targets with `// mage:import`. It owns those files only; it must not depend on any other
// package of the module (dind/base and dind/dindtest are separate packages).
package dind

import _ "embed"

// Dockerfile builds the bundle image from the context laid out by package buildctx: by hand, and
// in the pipeline only when the engine cannot take the layers image (its Image stage otherwise
// puts the same image together without a builder).
//
//go:embed Dockerfile
var Dockerfile []byte

// Entrypoint starts the inner dockerd, loads and verifies the images and runs the stack.
//
//go:embed entrypoint.sh
var Entrypoint []byte

// Registry is the entrypoint's registry and preload part, installed next to it as
// dindbundler-registry.sh and sourced by it.
//
//go:embed registry.sh
var Registry []byte

// Load is the target machine's loader of a `mage export` file: checksum, differential check,
// docker load, and the `docker run` line.
//
//go:embed load.sh
var Load []byte
