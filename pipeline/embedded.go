package pipeline

import (
	"context"
	"fmt"

	"github.com/dindbundler/dindbundler/config"
	"github.com/dindbundler/dindbundler/sam"
	"github.com/dindbundler/dindbundler/samdeploy"
)

// embeddedProducer runs the built-in SAM producer for one template, with the same contract as
// an external one: it writes the template's manifest at t.ManifestPath.
func (b *Bundler) embeddedProducer(ctx context.Context, t config.Template) error {
	api, err := b.docker()
	if err != nil {
		return err
	}
	req, err := ProducerRequest(b.Config, t)
	if err != nil {
		return err
	}
	_, err = samdeploy.Run(ctx, api, req, b.progress())
	return err
}

// ProducerRequest is the embedded producer's request for one template of a configuration.
func ProducerRequest(c config.Config, t config.Template) (samdeploy.Request, error) {
	overrides, err := sam.ParseOverrides(c.ParameterOverrides)
	if err != nil {
		return samdeploy.Request{}, fmt.Errorf("PARAMETER_OVERRIDES: %w", err)
	}
	compose := c.ComposeFile
	if !fileExists(compose) {
		compose = ""
	}
	return samdeploy.Request{
		Template: t.Path, Env: c.Env, Mode: samdeploy.ModeDocker, OutputRoot: t.OutputRoot,
		ProjectRoot: c.WorkDir, ComposeFile: compose, Brand: c.Brand.Slug, Project: c.Project,
		ImagePrefix: c.ImagePrefix, ImageTag: c.ImageTag,
		ParameterOverrides: overrides, Vars: c.Vars, RuntimeBases: c.RuntimeBases,
	}, nil
}
