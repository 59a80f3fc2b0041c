package embedded

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// confinePlan refuses every build context source that lies, once its links are followed, outside
// its project root: for function images the root of the template (PROJECT_ROOT, else the nearest
// directory holding .git above it, else its directory), for compose services that of the compose
// file. It returns each image's root, which also bounds the links followed while its context is
// written. Without it, `CodeUri: ../../../../etc` copied the host's /etc into an image.
func confinePlan(plan BuildPlan, req Request) (map[string]string, error) {
	roots := map[string]string{}
	rootOf := func(file string) (string, error) {
		dir := filepath.Dir(file)
		if r, ok := roots[dir]; ok {
			return r, nil
		}
		r, err := confine.Root(dir, req.Root)
		roots[dir] = r
		return r, err
	}
	out := map[string]string{}
	for _, b := range plan.Images {
		from := req.Template
		if b.Kind == manifest.KindService && req.ComposeFile != "" {
			from = req.ComposeFile
		}
		root, err := rootOf(from)
		if err != nil {
			return nil, err
		}
		out[b.Name] = root
		for _, e := range b.Context {
			if e.Source == "" {
				continue
			}
			if _, err := confine.Path(root, describeSource(b, e), e.Source); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// describeSource names the setting a context entry comes from, for errors.
func describeSource(b ImageBuild, e ContextEntry) string {
	switch {
	case b.Kind == manifest.KindService:
		return "service " + b.For + " build.context"
	case e.Target == "task":
		return "function " + b.For + " CodeUri"
	case strings.HasPrefix(e.Target, "layers/"):
		return fmt.Sprintf("function %s layer %s ContentUri", b.For, strings.TrimPrefix(e.Target, "layers/"))
	default:
		return "function " + b.For + " Metadata.DockerContext"
	}
}
