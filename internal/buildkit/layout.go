package buildkit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// solveThroughLayout solves opt on the BuildKit c, exporting the image as name into loader's OCI
// layout on this machine, then loads it into loader's engine with only the layers that engine
// lacks. Solve closes status.
//
// Only blobs the layout lacks cross from BuildKit: the OCI exporter with tar=false
// (exporter/oci, BuildKit v0.35) copies the image's chain with contentutil.CopyChain into the
// session's content store "export" (session/content, served here by the client from
// ExportEntry.OutputStore), and containerd's fetch handler first opens a writer for each blob;
// the layout's local content store refuses one for a blob it has ("already exists") and the
// blob is skipped. A blob two builds export at once is written by one, the other waits on its
// ingest lock and then finds it. The client's own OutputDir would do the same for blobs, but it
// names the image in index.json with a non-blocking lock (client/ociindex: TryLock, "could not
// lock"), which concurrent builds of one run would hit: the layout names it instead, under its
// own lock.
func solveThroughLayout(ctx context.Context, c *bkclient.Client, opt bkclient.SolveOpt, name string, loader *ocilayout.Loader, status chan *bkclient.SolveStatus) error {
	layout := loader.Layout()
	opt.Exports = []bkclient.ExportEntry{{Type: bkclient.ExporterOCI,
		Attrs: map[string]string{"name": name, "tar": "false"}, OutputStore: layout.Store()}}
	res, err := c.Solve(ctx, nil, opt, status)
	if err != nil {
		return err
	}
	desc, err := exportedImage(res.ExporterResponse)
	if err != nil {
		return fmt.Errorf("export into the OCI layout %s: %w", layout.Dir(), err)
	}
	if err := layout.Tag(name, desc); err != nil {
		return err
	}
	_, err = loader.Load(ctx, name)
	return err
}

// exportedImage is the descriptor of the image the OCI exporter wrote, from Solve's response.
func exportedImage(resp map[string]string) (ocispec.Descriptor, error) {
	var desc ocispec.Descriptor
	enc, ok := resp[exptypes.ExporterImageDescriptorKey]
	if !ok {
		return desc, fmt.Errorf("BuildKit's response names no image (%s)", exptypes.ExporterImageDescriptorKey)
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err == nil {
		err = json.Unmarshal(b, &desc)
	}
	if err != nil {
		return desc, fmt.Errorf("read the image BuildKit exported (%s): %w", exptypes.ExporterImageDescriptorKey, err)
	}
	return desc, nil
}

// loadSaved brings name, which another engine's BuildKit stored in that engine (builder, named
// where in messages, on the classic image store: moby is its only image exporter), into loader's OCI layout through one
// streamed `docker save` (ocilayout.IngestSave: blobs the layout has are not written again),
// then loads it into loader's engine with only the layers that engine lacks. The save is whole:
// every layer crosses from the builder engine to this machine, since Docker has no partial save;
// the layers the bundling engine has go no further. It returns a line of what crossed.
func loadSaved(ctx context.Context, builder *engine.Engine, where, name string, loader *ocilayout.Loader) (string, error) {
	saved, err := loader.Layout().IngestSave(ctx, builder, where, name)
	if err != nil {
		return "", err
	}
	loaded, err := loader.Load(ctx, name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("saved %.1f MB from %s (%.1f MB new to the layout), loaded %.1f MB (%.1f MB of layers the engine had left out)",
		float64(saved.Read)/1e6, where, float64(saved.Written)/1e6, float64(loaded.Sent)/1e6, float64(loaded.Omitted)/1e6), nil
}
