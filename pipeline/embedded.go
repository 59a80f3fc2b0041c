package pipeline

import (
	"context"
	"errors"

	"github.com/dindbundler/dindbundler/config"
)

// embeddedProducer runs the built-in SAM producer for one template.
func (b *Bundler) embeddedProducer(ctx context.Context, t config.Template) error {
	return errors.New("embedded producer not wired yet")
}
