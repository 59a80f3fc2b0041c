package embedded

import (
	"path/filepath"
	"sort"

	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// Inputs lists the files and directories a run for req reads, from its plan: the template, the
// compose file and every build context source (CodeUri, layer ContentUri, DockerContext with its
// Dockerfile, compose build contexts), wherever they lie. The Deploy stage judges the manifest's
// freshness by exactly these.
func Inputs(req Request) ([]string, error) {
	inputs, _, err := InputsAndOutputs(req)
	return inputs, err
}

// InputsAndOutputs is Inputs, and the files a run writes beside the manifest from the same plan:
// functions.yml and routing.yml, and resources.yml when the template has resources. A manifest
// without one of them (made before the producer wrote it) is stale.
func InputsAndOutputs(req Request) (inputs, outputs []string, err error) {
	if err := req.check(); err != nil {
		return nil, nil, err
	}
	_, plan, err := PlanRequest(req)
	if err != nil {
		return nil, nil, err
	}
	// Refused before any file is read for its signature.
	if _, err := confinePlan(plan, req); err != nil {
		return nil, nil, err
	}
	inputs = PlanInputs(plan, req)
	// A new `sam build` changes what is built (builders.go), though not the sources.
	if built := samBuildTemplate(req.Template); fileExists(built) {
		inputs = append(inputs, built)
		sort.Strings(inputs)
	}
	names := []string{runtimeconfig.FunctionsFile, runtimeconfig.RoutingFile}
	if !plan.Resources.Empty() {
		names = append(names, runtimeconfig.ResourcesFile)
	}
	for _, n := range names {
		outputs = append(outputs, filepath.Join(req.RuntimeConfigDir(), n))
	}
	return inputs, outputs, nil
}

// PlanInputs is Inputs for a plan already made: sorted, each path once.
func PlanInputs(plan BuildPlan, req Request) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(req.Template)
	add(req.ComposeFile)
	for _, b := range plan.Images {
		for _, e := range b.Context {
			add(e.Source)
		}
	}
	sort.Strings(out)
	return out
}
