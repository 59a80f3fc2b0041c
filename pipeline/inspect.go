package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/inspect"
)

// Inspect prints what a bundle carries (INSPECT_BUNDLE: a tag, default BUNDLE_TAG, or a file
// made by export), as text or, with INSPECT_FORMAT=json, as JSON. A tag is read through one
// `docker save` stream, so it costs about as long as reading the image once.
func (b *Bundler) Inspect(ctx context.Context) error {
	return b.InspectTo(ctx, os.Stdout)
}

// InspectTo is Inspect writing to w.
func (b *Bundler) InspectTo(ctx context.Context, w io.Writer) error {
	e, err := b.Config.ExportSettings()
	if err != nil {
		return err
	}
	rep, err := b.inspectReport(ctx, e.Inspect, "INSPECT_BUNDLE")
	if err != nil {
		return err
	}
	if e.InspectAgainst != "" {
		prev, err := b.inspectReport(ctx, e.InspectAgainst, "INSPECT_AGAINST")
		if err != nil {
			return err
		}
		changes := inspect.Compare(prev, rep)
		rep.Changes = &changes
	}
	if e.InspectFormat == "json" {
		return rep.JSON(w)
	}
	return rep.Text(w)
}

// inspectReport reads the report of source: an exported file, or a tag in the engine.
func (b *Bundler) inspectReport(ctx context.Context, source, variable string) (inspect.Report, error) {
	s := inspect.NewScanner(source)
	var err error
	if exists(source) {
		err = bundlefile.Entries(source, s.Entry)
	} else {
		api, derr := b.docker()
		if derr != nil {
			return inspect.Report{}, derr
		}
		if _, _, err := imageLayers(ctx, api, source); err != nil {
			return inspect.Report{}, fmt.Errorf("inspect: %w; build it (go run magefile.go image), or set %s to a tag or an exported file", err, variable)
		}
		err = engine.SaveEach(ctx, api, []string{source}, s.Entry)
	}
	if err != nil {
		return inspect.Report{}, fmt.Errorf("inspect %s: %w", source, err)
	}
	return s.Report(b.now())
}
