package main

import (
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dind/base"
)

// The plan holds every image a cold test run builds from nothing, each once, the engine
// matrix's first: a new base suite or a forgotten image would be built by the tests alone.
func TestPlanCoversTheColdImages(t *testing.T) {
	is := is.New(t)
	var names []string
	seen := map[string]bool{}
	for _, img := range plan() {
		is.True(!seen[img.name]) // each image once
		seen[img.name] = true
		names = append(names, img.name)
	}
	is.Equal(names[0], base.MatrixImage.Tag) // the first matrix test needs it
	for _, s := range base.Suites {
		is.True(seen[base.TagFor(s.Name)]) // every DinD base the tests build
	}
	is.True(seen[demo.RootfsTag()])
	is.True(seen["the builders' stand-in"])
	is.True(seen["the builders' Java stand-in"])
	is.True(seen["buildkitd (BuildKit module)"]) // the standalone-BuildKit tests' daemon
	is.True(seen["buildctl (BuildKit module)"])
	is.Equal(len(names), len(base.Suites)+5)
}
