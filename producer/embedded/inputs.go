package embedded

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// Inputs lists the files and directories a run for req reads, from its plan: the template, the
// compose file and every build context source (CodeUri, layer ContentUri, DockerContext with its
// Dockerfile, compose build contexts), wherever they lie. The Deploy stage judges the manifest's
// freshness by exactly these.
func Inputs(req Request) ([]string, error) {
	step, err := DeployFactsOf(req)
	return step.Inputs, err
}

// DeployFacts are what the Deploy stage judges a template's manifest by, from one plan: the
// files it reads (Inputs), the files a run writes beside the manifest (functions.yml and
// routing.yml, and resources.yml when the template has resources: a manifest without one of them
// was made before the producer wrote it, and is stale), the settings that decide its output
// (PlanSettings), and the plan itself, which the stage checks against the other templates.
type DeployFacts struct {
	Inputs   []string
	Outputs  []string
	Settings map[string]string
	Plan     BuildPlan
}

// DeployFactsOf plans req once and gives its DeployFacts.
func DeployFactsOf(req Request) (DeployFacts, error) {
	if err := req.check(); err != nil {
		return DeployFacts{}, err
	}
	_, plan, err := PlanRequest(req)
	if err != nil {
		return DeployFacts{}, err
	}
	// Refused before any file is read for its signature.
	if _, err := confinePlan(plan, req); err != nil {
		return DeployFacts{}, err
	}
	inputs := PlanInputs(plan, req)
	// A new `sam build` changes what is built (builders.go), though not the sources.
	if built := samBuildTemplate(req.Template); fileExists(built) {
		inputs = append(inputs, built)
		sort.Strings(inputs)
	}
	settings, err := PlanSettings(plan, req)
	if err != nil {
		return DeployFacts{}, err
	}
	names := []string{runtimeconfig.FunctionsFile, runtimeconfig.RoutingFile}
	if !plan.Resources.Empty() {
		names = append(names, runtimeconfig.ResourcesFile)
	}
	var outputs []string
	for _, n := range names {
		outputs = append(outputs, filepath.Join(req.RuntimeConfigDir(), n))
	}
	return DeployFacts{Inputs: inputs, Outputs: outputs, Settings: settings, Plan: plan}, nil
}

// Names are the names of every image plan builds or reads (built, base and external).
func (plan BuildPlan) Names() []string {
	var out []string
	for _, b := range plan.Images {
		out = append(out, b.Name)
	}
	for _, b := range plan.Bases {
		out = append(out, b.Name)
	}
	for _, e := range plan.External {
		out = append(out, e.Name)
	}
	return out
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

// PlanSetting names the build plan among a step's settings.
const PlanSetting = "the build plan (Dockerfiles, build arguments, labels, base and builder images)"

// PlanSettings are what decides the images of plan besides the files PlanInputs lists: the
// plan as a whole — every generated Dockerfile, build argument, label, tag, base image and
// context source, so a setting that changes any of them (PARAMETER_OVERRIDES,
// RUNTIME_BASE_<RUNTIME>, IMAGE_TAG, a mirror variable, an ENV_VARS_FILE value) changes it — and,
// by name, each variable the compose file's images and builds read, so a message can name it.
func PlanSettings(plan BuildPlan, req Request) (map[string]string, error) {
	plan.Warnings = nil // words for the user, not what is built
	data, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("fingerprint the build plan: %w", err)
	}
	out := map[string]string{PlanSetting: string(data)}
	for _, name := range plan.Variables {
		if v, ok := req.Vars[name]; ok {
			out[name] = v
		}
	}
	return out, nil
}
