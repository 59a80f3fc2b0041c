// Package dind carries the bundle's runtime files (Dockerfile, entrypoint.sh and the parts it
// sources, load.sh) and owns the paths inside the bundle they use (paths.go). The files are
// embedded so the pipeline finds them wherever it runs — also from a project that imports these
// targets with `// mage:import`. build.sh beside them is the seed's command line, run from a
// checkout; it is not embedded. It must not depend on any other package of the module
// (dind/base and dind/dindtest are separate packages).
package dind

import (
	"embed"
	"io/fs"
	"path"
)

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

// parts are the entrypoint's sourced parts, one purpose each: this line is their one list.
//
//go:embed registry.sh volume.sh imagestore.sh verify.sh loadimages.sh provision.sh health.sh
var parts embed.FS

// RuntimeFile is one part of the entrypoint: Source in dind/, installed in BinDir as Installed
// (the name the entrypoint sources it by) with mode 0644.
type RuntimeFile struct {
	Source, Installed string
	Data              []byte
}

// InstalledPrefix starts the name of every file the bundle installs in BinDir.
const InstalledPrefix = "dindbundler-"

// RuntimeFiles are the entrypoint's sourced parts, sorted by Source. buildctx puts them in the
// context's bin/ (Dockerfile: COPY bin/ BinDir), the shellcheck test lints them, and the
// entrypoint sources each (TestScriptsUseBundlePaths checks it does).
func RuntimeFiles() []RuntimeFile {
	names, err := fs.Glob(parts, "*.sh")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	out := make([]RuntimeFile, 0, len(names))
	for _, n := range names {
		data, err := parts.ReadFile(n)
		if err != nil {
			panic(err) // embedded at build time: always there
		}
		out = append(out, RuntimeFile{Source: n, Installed: InstalledPrefix + path.Base(n), Data: data})
	}
	return out
}

// Load is the target machine's loader of a `mage export` file: checksum, differential check,
// docker load, and the `docker run` line.
//
//go:embed load.sh
var Load []byte
