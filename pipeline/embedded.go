package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer"
	"github.com/dindbundler/dindbundler/producer/embedded"
)

// embeddedProducer runs the built-in SAM producer for one template, with the same contract as
// an external one: it writes the template's manifest at t.ManifestPath.
func (b *Bundler) embeddedProducer(ctx context.Context, t config.Template) error {
	api, err := b.docker()
	if err != nil {
		return err
	}
	req, err := embedded.FromConfig(b.Config, t)
	if err != nil {
		return err
	}
	req.Notes = b.noteOnce
	_, err = embedded.Run(ctx, api, req, b.progress())
	return err
}

// deploySteps are the Deploy steps; an embedded producer's step reads exactly the files its plan
// names (code, layers, Dockerfiles and build contexts wherever they lie) plus the files Plan
// lists and the defaults file, rather than the template's whole directory, and its plan among
// its settings (embedded.PlanSettings).
func (b *Bundler) deploySteps() ([]producer.Step, error) {
	steps, err := producer.Plan(b.Config)
	if err != nil {
		return nil, err
	}
	functions := map[string]string{} // function image → the template that builds it
	for i, s := range steps {
		if s.Args != nil || b.Embedded != nil {
			continue // an external producer (or a test's stand-in) reads what it likes
		}
		req, err := embedded.FromConfig(b.Config, s.Template)
		if err != nil {
			return nil, err
		}
		facts, err := embedded.DeployFactsOf(req)
		if err != nil {
			return nil, fmt.Errorf("deploy %s: list its inputs: %w", s.Template.Path, err)
		}
		inputs, plan := facts.Inputs, facts.Plan
		if err := b.Config.CheckBundleTag("template "+s.Template.Path, plan.Names()); err != nil {
			return nil, err
		}
		for _, img := range plan.Images {
			if img.Kind != manifest.KindFunction {
				continue
			}
			if other, ok := functions[img.Name]; ok {
				return nil, fmt.Errorf("%w: templates %s and %s both define function %s (image %s): each run would replace the other's image; give one of them another FunctionName", config.ErrClash, other, s.Template.Path, img.For, img.Name)
			}
			functions[img.Name] = s.Template.Path
		}
		// What Plan listed stays (the template, compose file, .env, ENV_VARS_FILE, LAYER_MAP and
		// its layers) but for the template's whole directory, which the plan's sources replace.
		for _, p := range s.Inputs {
			if p != s.Template.Dir && !slices.Contains(inputs, p) {
				inputs = append(inputs, p)
			}
		}
		if _, err := os.Stat(b.Config.DefaultsFile); err == nil && !slices.Contains(inputs, b.Config.DefaultsFile) {
			inputs = append(inputs, b.Config.DefaultsFile)
		}
		steps[i].Inputs = inputs
		// The runtime config the embedded producer writes beside the manifest: a manifest
		// without it (made before there was one) is made again.
		steps[i].Outputs = facts.Outputs
		for name, v := range facts.Settings {
			steps[i].Settings[name] = v
		}
		steps[i].Derived = []string{embedded.PlanSetting}
	}
	return steps, nil
}

// printFunctionPlans shows, in a dry run, what the embedded producer would build for each
// function of t (image, base, code, layers) and its warnings; a template that cannot be
// planned says why.
func printFunctionPlans(w io.Writer, c config.Config, t config.Template) {
	req, err := embedded.FromConfig(c, t)
	if err != nil {
		fmt.Fprintf(w, "              would FAIL: %v\n", err)
		return
	}
	tpl, plan, err := embedded.PlanRequest(req)
	if err != nil {
		fmt.Fprintf(w, "              would FAIL: %v\n", err)
		return
	}
	embedded.WriteFunctionPlans(w, tpl, plan, "              ")
}
