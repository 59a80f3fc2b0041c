package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// BuildOptions are the few ImageBuild settings the stages use.
type BuildOptions struct {
	Tag        string            // name:tag given to the image; may be empty
	Dockerfile string            // path inside the context; empty means "Dockerfile"
	BuildArgs  map[string]string // --build-arg values
	Labels     map[string]string
	Platform   string // e.g. "linux/amd64"; empty means the engine's own
	Target     string // the multi-stage build's stage to stop at; empty means the last
	// NoCache skips the builder's cache lookup. For FROM scratch the classic builder looks at
	// every parentless image in the engine and fails ("unable to find image") when another
	// client removes one meanwhile; builds that never reuse a step should skip the lookup.
	NoCache bool
}

// Build runs a classic-builder build (BuildKit through the API needs a session) of the tar
// stream buildContext, rendering its output on progress (nil for quiet), and returns the image
// ID. Intermediate containers are removed even when a step fails.
func Build(ctx context.Context, api client.ImageAPIClient, buildContext io.Reader, opts BuildOptions, progress io.Writer) (imageID string, err error) {
	what := opts.Tag
	if what == "" {
		what = "image"
	}
	bo := build.ImageBuildOptions{
		Dockerfile:  opts.Dockerfile,
		Labels:      opts.Labels,
		Platform:    opts.Platform,
		Target:      opts.Target,
		Version:     build.BuilderV1,
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
	}
	if opts.Tag != "" {
		bo.Tags = []string{opts.Tag}
	}
	if len(opts.BuildArgs) > 0 {
		bo.BuildArgs = make(map[string]*string, len(opts.BuildArgs))
		for k, v := range opts.BuildArgs {
			bo.BuildArgs[k] = &v
		}
	}
	resp, err := api.ImageBuild(ctx, buildContext, bo)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", what, err)
	}
	defer resp.Body.Close()
	// The classic builder announces the finished image as {"aux":{"ID":"sha256:…"}}.
	var auxErr error
	readAux := func(jm jsonmessage.JSONMessage) {
		if jm.Aux == nil {
			return
		}
		var r build.Result
		if err := json.Unmarshal(*jm.Aux, &r); err != nil {
			auxErr = fmt.Errorf("read image ID from build output: %w", err)
			return
		}
		if r.ID != "" {
			imageID = r.ID
		}
	}
	// Every line the builder prints with mage -v; otherwise one line for the build.
	var transform func(jsonmessage.JSONMessage) []jsonmessage.JSONMessage
	if !isVerbose(progress) {
		transform = newBuildView(what, progress).transform
	}
	if err := renderAs(resp.Body, progress, readAux, transform); err != nil {
		return "", fmt.Errorf("build %s: %w", what, err)
	}
	if imageID != "" {
		return imageID, nil
	}
	// Older engines do not send the aux message; the tag then tells which image was built.
	if opts.Tag == "" {
		if auxErr != nil {
			return "", fmt.Errorf("build %s: %w", what, auxErr)
		}
		return "", fmt.Errorf("build %s: the engine reported no image ID; give the build a tag", what)
	}
	info, err := api.ImageInspect(ctx, opts.Tag)
	if err != nil {
		return "", fmt.Errorf("build %s: find the built image: %w", what, err)
	}
	return info.ID, nil
}
