package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/dindbundler/dindbundler/internal/config"
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
	req, err := embedded.FromConfig(b.Config, t.Path, t.OutputRoot)
	if err != nil {
		return err
	}
	_, err = embedded.Run(ctx, api, req, b.progress())
	return err
}

// deploySteps are the Deploy steps; an embedded producer's step reads exactly the files its plan
// names (code, layers, Dockerfiles and build contexts wherever they lie) plus .env and the
// defaults file, rather than the template's directory.
func (b *Bundler) deploySteps() ([]producer.Step, error) {
	steps, err := producer.Plan(b.Config)
	if err != nil {
		return nil, err
	}
	for i, s := range steps {
		if s.Args != nil || b.Embedded != nil {
			continue // an external producer (or a test's stand-in) reads what it likes
		}
		req, err := embedded.FromConfig(b.Config, s.Template.Path, s.Template.OutputRoot)
		if err != nil {
			return nil, err
		}
		inputs, err := embedded.Inputs(req)
		if err != nil {
			return nil, fmt.Errorf("deploy %s: list its inputs: %w", s.Template.Path, err)
		}
		for _, p := range []string{b.Config.DotEnvPath, b.Config.DefaultsFile} {
			if _, err := os.Stat(p); err == nil {
				inputs = append(inputs, p)
			}
		}
		steps[i].Inputs = inputs
	}
	return steps, nil
}
