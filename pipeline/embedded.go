package pipeline

import (
	"context"

	"github.com/dindbundler/dindbundler/internal/config"
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
	_, err = embedded.Run(ctx, api, req, b.progress())
	return err
}
