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
	s := inspect.NewScanner(e.Inspect)
	if exists(e.Inspect) {
		err = bundlefile.Entries(e.Inspect, s.Entry)
	} else {
		api, derr := b.docker()
		if derr != nil {
			return derr
		}
		if _, _, err := engine.ImageLayers(ctx, api, e.Inspect); err != nil {
			return fmt.Errorf("inspect: %w; build it (go run magefile.go image), or set INSPECT_BUNDLE to a tag or an exported file", err)
		}
		err = engine.SaveEach(ctx, api, []string{e.Inspect}, s.Entry)
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", e.Inspect, err)
	}
	rep, err := s.Report(b.now())
	if err != nil {
		return err
	}
	if e.InspectFormat == "json" {
		return rep.JSON(w)
	}
	return rep.Text(w)
}
