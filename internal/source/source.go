// Package source locates this module's own source tree (the directory holding go.mod) for the
// developer harness and the tests: the example stack, the dind/ runtime files, the bootstrap. It
// must not be used by the pipeline itself, which embeds what it ships (package dind) and so runs
// from any directory, also when imported by another project.
package source

import (
	"errors"
	"path/filepath"
	"runtime"
)

// Root is the module's root directory, found from this file's compile-time path.
func Root() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate dindbundler's source tree (built without file paths, e.g. -trimpath?)")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Path is Root joined with the slash-separated elements, e.g. Path("examples", "demo").
func Path(elem ...string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{root}, elem...)...), nil
}
