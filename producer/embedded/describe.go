package embedded

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// PlanRequest parses the template and compose file of req and plans them, as Run would, without
// the engine: for a dry run.
func PlanRequest(req Request) (*sam.Template, BuildPlan, error) {
	if err := req.check(); err != nil {
		return nil, BuildPlan{}, err
	}
	path, _ := builtTemplate(req.Template) // builders.go: `sam build` output, when newer
	t, err := sam.ParseFile(path, req.samOptions())
	if err != nil {
		return nil, BuildPlan{}, err
	}
	if req.CodeFiles == nil {
		if req.CodeFiles, err = ScanCode(t); err != nil {
			return nil, BuildPlan{}, err
		}
	}
	var c *compose.File
	if req.ComposeFile != "" {
		if c, err = compose.ParseFile(req.ComposeFile, req.Vars); err != nil {
			return nil, BuildPlan{}, err
		}
	}
	plan, err := Plan(t, c, req)
	return t, plan, err
}

// WriteFunctionPlans writes one line per function of t as plan builds it (image, base or
// Dockerfile, code directory relative to the template, layers), then the plan's warnings.
func WriteFunctionPlans(w io.Writer, t *sam.Template, plan BuildPlan, indent string) {
	bases := map[string]string{}
	for _, b := range plan.Bases {
		for _, fn := range b.Functions {
			bases[fn] = b.Name
		}
	}
	images, builds := map[string]string{}, map[string]string{}
	for _, b := range plan.Images {
		images[b.For], builds[b.For] = b.Name, b.Builders
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(t.Dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	for _, fn := range t.Functions {
		var from string
		switch {
		case fn.ImageURI != "":
			from = "from ImageUri " + fn.ImageURI
		case fn.PackageType == sam.PackageImage:
			from = fmt.Sprintf("from Dockerfile %s in %s", fn.Dockerfile, rel(fn.DockerContext))
		default:
			code := rel(fn.CodeURI)
			if fn.CodeKind == sam.CodeInline {
				code = "inline"
			}
			from = fmt.Sprintf("%s on %s, handler %s, code %s", fn.Runtime, bases[fn.Name], fn.Handler, code)
		}
		line := fmt.Sprintf("%sfunction %s → %s (%s): %s", indent, fn.Name, images[fn.Name], fn.Architecture, from)
		if len(fn.Layers) > 0 {
			layers := make([]string, len(fn.Layers))
			for i, l := range fn.Layers {
				layers[i] = LayerLabel(l) + "=" + rel(l.ContentURI)
			}
			line += ", layers " + strings.Join(layers, ", ")
		}
		if builds[fn.Name] != "" {
			line += ", built by " + builds[fn.Name]
		}
		fmt.Fprintln(w, line)
	}
	for _, warn := range plan.Warnings {
		fmt.Fprintf(w, "%swarning: %s\n", indent, warn)
	}
}
