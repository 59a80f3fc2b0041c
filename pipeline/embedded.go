package pipeline

import (
	"context"
	"fmt"
	"io"

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
	req, err := embedded.FromConfig(b.Config, t.Path, t.OutputRoot)
	if err != nil {
		return err
	}
	_, err = embedded.Run(ctx, api, req, b.progress())
	return err
}

// printFunctionPlans shows, in a dry run, what the embedded producer would build for each
// function of t (image, base, code, layers) and its warnings; a template that cannot be
// planned says why.
func printFunctionPlans(w io.Writer, c config.Config, t config.Template) {
	req, err := embedded.FromConfig(c, t.Path, t.OutputRoot)
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
