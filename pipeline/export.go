package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Export writes the bundle image as one transportable file, BUILD_DIR/<name>.tar[.gz|.zst]
// (EXPORT_COMPRESSION), streamed from `docker save` through the compressor, with a .sha256 and
// load.sh next to it; with EXPORT_AGAINST only the layers the previous bundle lacks. It skips
// when the file was made from the same image ID with the same settings and it and its checksum
// are still what was written (checkExport).
func (b *Bundler) Export(ctx context.Context) error {
	e, err := b.Config.ExportSettings()
	if err != nil {
		return err
	}
	c := e.Compression
	api, err := b.docker()
	if err != nil {
		return err
	}
	tag := b.Config.BundleTag
	id, layers, err := imageLayers(ctx, api, tag)
	if err != nil {
		return fmt.Errorf("export: %w; build it first (go run magefile.go image) or set BUNDLE_TAG", err)
	}
	meta := bundlefile.Meta{Bundle: tag, Image: id, Layers: layers, Run: bundlefile.RunLine(tag, b.publishedPorts())}
	prevID := ""
	if e.Against != "" {
		prev, err := exportReference(ctx, api, e.Against)
		if err != nil {
			return err
		}
		if meta.Omitted, err = bundlefile.Omit(layers, prev.Layers); err != nil {
			return fmt.Errorf("export %s against %s: %w", tag, e.Against, err)
		}
		meta.Requires, prevID = &prev, prev.Image
	}
	out := bundlefile.Path(b.Config.BuildDir, tag, c, prevID)
	statePath := b.Config.Layout().ExportState(filepath.Base(out))
	key := fresh.Key(bundlefile.Format, id, string(c), prevID, meta.Run)
	p, err := b.planExport(out, key)
	if err != nil {
		return err
	}
	p.Do = func(ctx context.Context) error {
		if prevID != "" {
			b.logf("export: writing %s: %s without the %d bottom layers %s has, %s", out, tag, meta.Omitted, e.Against, p.Reason)
		} else {
			b.logf("export: writing %s: %s, %s compressed, %s", out, tag, c, p.Reason)
		}
		if err := fresh.RemoveState(statePath); err != nil {
			return err
		}
		res, err := bundlefile.Write(out, meta, c, func(fn bundlefile.EntryFunc) error {
			return engine.SaveEach(ctx, api, []string{tag}, fn)
		})
		if err != nil {
			return err
		}
		written, err := fresh.RecordOutput(out, res.SHA256)
		if err != nil {
			return err
		}
		if err := fresh.WriteState(statePath, fresh.State{Key: key, Output: id, Outputs: map[string]fresh.FileRecord{out: written}}); err != nil {
			return err
		}
		b.logf("export: wrote %s (%d MB, sha256 %s)%s", out, res.Size>>20, res.SHA256, omittedNote(res))
		return nil
	}
	if err := b.carry(ctx, "export", p); err != nil {
		return err
	}
	b.noteBytes(sizeOf(out))
	loader := b.Config.Layout().LoadScript()
	if err := atomicfile.Write(loader, dind.Load, 0o755); err != nil {
		return err
	}
	// The directions for the target machine carry their own prefix: the export's own lines say
	// what it did (the summary reads them).
	b.logf("target: copy %s, %s and %s to the target machine, then there:", filepath.Base(out), filepath.Base(bundlefile.SumPath(out)), filepath.Base(loader))
	b.logf("target:   sh load.sh %s    (checks the checksum, loads, prints the docker run line)", filepath.Base(out))
	b.logf("target:   or: %s", bundlefile.LoadLine(out, c))
	if prevID != "" {
		b.logf("target: it must have %s (%s) already: load.sh refuses otherwise", meta.Requires.Bundle, prevID)
	}
	return nil
}

// planExport is the export stage's decision for the file out: fresh while it and its checksum
// file are what was written (checkExport), from the same bundle image ID and settings (key). With
// key "" (a dry run: the daemon is not asked for the image ID) the key is not compared; the plan
// says so. Its work is left to the caller (Do).
func (b *Bundler) planExport(out, key string) (fresh.Plan, error) {
	state, err := fresh.ReadState(b.statePath("export-" + filepath.Base(out)))
	if err != nil {
		return fresh.Plan{}, err
	}
	facts := fresh.Facts{Force: b.Config.Force, Output: out, OutputExists: exists(out) && exists(bundlefile.SumPath(out)), RecordedKey: state.Key, CurrentKey: key}
	if facts.OutputExists {
		facts.OutputInvalid = checkExport(out, state)
	}
	p := fresh.Plan{Work: "write " + out, Inputs: []string{out, bundlefile.SumPath(out)}}
	if key == "" {
		facts.RecordedKey = ""
		p.Pending = "the bundle image ID and these settings, checked against the last export in the daemon"
	}
	p.Decision = fresh.Decide(facts)
	return p, nil
}

// checkExport tells why the export file out and its checksum file are not the ones recorded when
// they were written: the file's signature, else its content (fresh.CheckOutput), and the
// checksum file's line. An export recorded without them (an older version) is written again.
func checkExport(out string, state fresh.State) error {
	rec, ok := state.Outputs[out]
	if !ok {
		return errors.New("no record of what was written")
	}
	if err := fresh.CheckOutput(out, rec); err != nil {
		return err
	}
	sum, err := os.ReadFile(bundlefile.SumPath(out))
	if err != nil {
		return err
	}
	if want := rec.SHA256 + "  " + filepath.Base(out) + "\n"; string(sum) != want {
		return fmt.Errorf("%s does not hold the checksum that was written", bundlefile.SumPath(out))
	}
	return nil
}

// PrintExportPlan is the export stage's line of a dry run: where the file would go and when it
// would be skipped, without contacting Docker.
func (b *Bundler) PrintExportPlan(w io.Writer) error {
	e, err := b.Config.ExportSettings()
	if err != nil {
		fmt.Fprintf(w, "  export    would FAIL: %v\n", err)
		return nil
	}
	c := e.Compression
	out := bundlefile.Path(b.Config.BuildDir, b.Config.BundleTag, c, "")
	p, err := b.planExport(out, "")
	switch {
	case err != nil:
		fmt.Fprintf(w, "  export    would FAIL: %v\n", err)
	case p.Fresh || e.Against != "":
		fmt.Fprintf(w, "  export    would write %s (%s) with its .sha256 and %s, unless the bundle image ID and these settings match the last export (checked in the daemon)\n",
			out, c, b.Config.Layout().LoadScript())
	default:
		fmt.Fprintf(w, "  export    would write %s (%s) with its .sha256 and %s, %s\n", out, c, b.Config.Layout().LoadScript(), p.Reason)
	}
	if e.Against != "" {
		fmt.Fprintf(w, "  export    against %s: only the layers that bundle lacks, named <name>.from-<its ID>%s\n", e.Against, c.Ext())
	}
	return nil
}

func omittedNote(r bundlefile.Result) string {
	if r.OmittedFiles == 0 {
		return ""
	}
	return fmt.Sprintf("; left out %d layers (%d MB) the previous bundle has", r.OmittedFiles, r.OmittedBytes>>20)
}

// exportReference resolves EXPORT_AGAINST: an earlier export file (its description) or a bundle
// tag or ID in the engine.
func exportReference(ctx context.Context, api client.ImageAPIClient, against string) (bundlefile.Ref, error) {
	if exists(against) {
		m, err := bundlefile.ReadMeta(against)
		if err != nil {
			return bundlefile.Ref{}, fmt.Errorf("EXPORT_AGAINST: %w", err)
		}
		return bundlefile.Ref{Bundle: m.Bundle, Image: m.Image, Layers: m.Layers}, nil
	}
	id, layers, err := imageLayers(ctx, api, against)
	if err != nil {
		return bundlefile.Ref{}, fmt.Errorf("EXPORT_AGAINST=%s is neither a file nor an image in the engine: %w", against, err)
	}
	return bundlefile.Ref{Bundle: against, Image: id, Layers: layers}, nil
}

// publishedPorts are the host ports the stack's compose file publishes, for the run line; a
// compose file that cannot be read only costs the ports.
func (b *Bundler) publishedPorts() []string {
	data, err := userfile.ReadFile("compose file", b.Config.ComposeFile)
	if err != nil {
		return nil
	}
	ports, err := compose.PublishedPorts(data, b.Config.Vars)
	if err != nil {
		b.logf("export: the run line names no ports: %v", err)
	}
	return ports
}

// imageLayers is an image's ID and diffIDs (bottom first); a missing image is an error naming it.
func imageLayers(ctx context.Context, api client.ImageAPIClient, ref string) (string, []string, error) {
	info, found, err := engine.Inspect(ctx, api, ref)
	if err != nil {
		return "", nil, err
	}
	if !found {
		return "", nil, fmt.Errorf("image %s is not in the engine", ref)
	}
	return info.ID, info.RootFS.Layers, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
