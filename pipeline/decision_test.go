package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// verdictCase is one reason a stage decides on: the real run's verdict and reason, and whether
// the dry run, which sees fewer facts (no daemon), must leave the verdict pending.
type verdictCase struct {
	name      string
	change    func(*testing.T, *Bundler) // from the fresh baseline
	wantFresh bool
	wantWhy   string // held by the real run's reason
	pending   bool   // the dry run cannot see this reason: it says fresh, naming what it did not see
	dryWhy    string // the dry run's reason when it names another cause of the same verdict
}

// sameVerdict checks a dry run's plan against the real run's: the same verdict and reason, or,
// where the reason needs the daemon, a fresh verdict that names what it left unchecked.
func sameVerdict(t *testing.T, tt verdictCase, dry, real fresh.Plan) {
	t.Helper()
	is := is.NewRelaxed(t)
	is.Equal(real.Fresh, tt.wantFresh)
	is.True(strings.Contains(real.Reason, tt.wantWhy)) // the real run's reason
	is.Equal(real.Pending, "")                         // the real run decided on every fact
	switch {
	case tt.pending:
		is.True(dry.Fresh)
		is.True(dry.Pending != "") // says what waits for the real run
	case tt.dryWhy != "":
		is.Equal(dry.Fresh, real.Fresh)
		is.True(strings.Contains(dry.Reason, tt.dryWhy))
	default:
		is.Equal(dry.Decision, real.Decision)
	}
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// The Save stage decides alike in a dry run (no daemon: the IDs and the stored files' contents
// wait) and in a real one, for every reason.
func TestSaveVerdicts(t *testing.T) {
	names := []string{"a:1"}
	ids := map[string]string{"a:1": "sha256:a"}
	baseline := func(t *testing.T) *Bundler {
		is := is.New(t)
		b := &Bundler{Config: config.Config{BuildDir: t.TempDir(), Compression: "gzip"}}
		store, err := layerstore.Open(b.storeDir())
		is.NoErr(err)
		blob := []byte(`{"architecture":"amd64"}`)
		is.NoErr(os.WriteFile(store.ConfigPath(digestOf(blob)), blob, 0o644))
		is.NoErr(manifest.Write(b.Config.Layout().MergedManifest(), manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}}))
		set := layerstore.Set{Compression: layerstore.Gzip, Images: []layerstore.Image{{Name: "a:1", ID: "sha256:a", Config: digestOf(blob)}}}
		is.NoErr(layerstore.WriteSet(b.setPath(), set))
		later := time.Now().Add(time.Hour)
		is.NoErr(os.Chtimes(b.setPath(), later, later))
		is.NoErr(fresh.WriteState(b.statePath("save"), fresh.State{Settings: b.saveSettings(names), Images: ids}))
		return b
	}
	configFile := func(b *Bundler) string {
		set, _ := layerstore.ReadSet(b.setPath())
		return (&layerstore.Store{Dir: b.storeDir()}).ConfigPath(set.Images[0].Config)
	}
	tests := []verdictCase{
		{name: "up to date", wantFresh: true, wantWhy: "is up to date", pending: true},
		{name: "FORCE", change: func(_ *testing.T, b *Bundler) { b.Config.Force = true }, wantWhy: "FORCE is set"},
		{name: "no set yet", change: func(t *testing.T, b *Bundler) { is.New(t).NoErr(os.Remove(b.setPath())) }, wantWhy: "does not exist yet"},
		{name: "the manifest changed after", change: func(t *testing.T, b *Bundler) {
			later := time.Now().Add(2 * time.Hour)
			is.New(t).NoErr(os.Chtimes(b.Config.Layout().MergedManifest(), later, later))
		}, wantWhy: "manifest.json changed after"},
		{name: "nothing recorded", change: func(t *testing.T, b *Bundler) { is.New(t).NoErr(fresh.RemoveState(b.statePath("save"))) }, wantWhy: "no record of the settings"},
		{name: "another compression", change: func(_ *testing.T, b *Bundler) { b.Config.Compression = "zstd" }, wantWhy: "BUNDLE_COMPRESSION changed"},
		{name: "the store lacks a file", change: func(t *testing.T, b *Bundler) { is.New(t).NoErr(os.Remove(configFile(b))) }, wantWhy: "lacks files"},
		{name: "a stored file damaged", change: func(t *testing.T, b *Bundler) {
			is.New(t).NoErr(os.WriteFile(configFile(b), []byte(`{"architecture":"arm64"}`), 0o644))
		}, wantWhy: "was damaged", pending: true},
		{name: "an image's ID changed", change: func(t *testing.T, b *Bundler) {
			is.New(t).NoErr(fresh.WriteState(b.statePath("save"), fresh.State{Settings: b.saveSettings(names), Images: map[string]string{"a:1": "sha256:old"}}))
		}, wantWhy: "images changed since", pending: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			b := baseline(t)
			if tt.change != nil {
				tt.change(t, b)
			}
			store := &layerstore.Store{Dir: b.storeDir()}
			dry, err := b.planSave(names, nil, store) // first: the real decision removes a damaged file
			is.NoErr(err)
			real, err := b.planSave(names, ids, store)
			is.NoErr(err)
			sameVerdict(t, tt, dry, real)
		})
	}
}

// The Image stage decides alike in a dry run (which plans no context and asks no daemon) and in
// a real one, for every reason.
func TestImageVerdicts(t *testing.T) {
	const tag = "bundle:1"
	settings := fresh.SettingHashes(map[string]string{"BUNDLE_TAG": tag, "the bundled images": "[a]"})
	built := fresh.State{Settings: settings, Output: "sha256:built"}
	tests := []struct {
		verdictCase
		state            fresh.State
		settings, engine map[string]string
	}{
		{verdictCase{name: "up to date", wantFresh: true, wantWhy: "is up to date", pending: true}, built, settings, map[string]string{tag: "sha256:built"}},
		{verdictCase{name: "FORCE", change: func(_ *testing.T, b *Bundler) { b.Config.Force = true }, wantWhy: "FORCE is set"}, built, settings, map[string]string{tag: "sha256:built"}},
		{verdictCase{name: "never built here", wantWhy: "no record of the settings"}, fresh.State{}, settings, map[string]string{tag: "sha256:other"}},
		{verdictCase{name: "never built", wantWhy: tag + " does not exist yet", dryWhy: "no record of the settings"}, fresh.State{}, settings, map[string]string{}},
		{verdictCase{name: "removed from the engine", wantWhy: tag + " does not exist yet", pending: true}, built, settings, map[string]string{}},
		{verdictCase{name: "a setting changed", wantWhy: "the bundled images changed since", pending: true}, built,
			fresh.SettingHashes(map[string]string{"BUNDLE_TAG": tag, "the bundled images": "[b]"}), map[string]string{tag: "sha256:built"}},
		{verdictCase{name: "the tag moved", wantWhy: "images changed since", pending: true}, built, settings, map[string]string{tag: "sha256:other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Bundler{Config: config.Config{BuildDir: t.TempDir(), BundleTag: tag}}
			if tt.change != nil {
				tt.change(t, b)
			}
			sameVerdict(t, tt.verdictCase, b.planImage(tt.state, nil, nil), b.planImage(tt.state, tt.settings, tt.engine))
		})
	}
}

// The export stage decides alike in a dry run (no daemon: the image ID waits) and in a real
// one, for every reason.
func TestExportVerdicts(t *testing.T) {
	const key = "key-of-image-and-settings"
	baseline := func(t *testing.T) (*Bundler, string) {
		is := is.New(t)
		b := &Bundler{Config: config.Config{BuildDir: t.TempDir(), BundleTag: "bundle:1"}}
		out := bundlefile.Path(b.Config.BuildDir, b.Config.BundleTag, layerstore.Gzip, "")
		data := []byte("the bundle")
		is.NoErr(os.WriteFile(out, data, 0o644))
		sum := sha256.Sum256(data)
		is.NoErr(os.WriteFile(bundlefile.SumPath(out), []byte(hex.EncodeToString(sum[:])+"  "+filepath.Base(out)+"\n"), 0o644))
		written, err := fresh.RecordOutput(out, hex.EncodeToString(sum[:]))
		is.NoErr(err)
		is.NoErr(fresh.WriteState(b.statePath("export-"+filepath.Base(out)), fresh.State{Key: key, Outputs: map[string]fresh.FileRecord{out: written}}))
		return b, out
	}
	tests := []struct {
		verdictCase
		change func(*testing.T, *Bundler, string)
		key    string
	}{
		{verdictCase{name: "up to date", wantFresh: true, wantWhy: "is up to date", pending: true}, nil, key},
		{verdictCase{name: "FORCE", wantWhy: "FORCE is set"}, func(_ *testing.T, b *Bundler, _ string) { b.Config.Force = true }, key},
		{verdictCase{name: "no file yet", wantWhy: "does not exist yet"}, func(t *testing.T, _ *Bundler, out string) { is.New(t).NoErr(os.Remove(out)) }, key},
		{verdictCase{name: "no checksum file", wantWhy: "does not exist yet"}, func(t *testing.T, _ *Bundler, out string) { is.New(t).NoErr(os.Remove(bundlefile.SumPath(out))) }, key},
		{verdictCase{name: "the file changed", wantWhy: "unreadable"}, func(t *testing.T, _ *Bundler, out string) {
			is.New(t).NoErr(os.WriteFile(out, []byte("the Bundle"), 0o644))
		}, key},
		{verdictCase{name: "nothing recorded", wantWhy: "no record of what was written"}, func(t *testing.T, b *Bundler, out string) {
			is.New(t).NoErr(fresh.RemoveState(b.statePath("export-" + filepath.Base(out))))
		}, key},
		{verdictCase{name: "another image or settings", wantWhy: "its settings or inputs changed", pending: true}, nil, "another key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			b, out := baseline(t)
			if tt.change != nil {
				tt.change(t, b, out)
			}
			dry, err := b.planExport(out, "")
			is.NoErr(err)
			real, err := b.planExport(out, tt.key)
			is.NoErr(err)
			sameVerdict(t, tt.verdictCase, dry, real)
		})
	}
}

// The Pull stage's decision is all the daemon's: a dry run leaves it pending and names the
// external images; the real run pulls the missing external ones and refuses any other.
func TestPullVerdicts(t *testing.T) {
	m := manifest.Manifest{Images: []manifest.Image{{Name: "ext:1", Kind: manifest.KindExternal}, {Name: "fn:1", Kind: manifest.KindFunction}}}
	tests := []struct {
		verdictCase
		missing []string
		wantErr string
	}{
		{verdictCase{name: "all present", wantFresh: true, wantWhy: "all 2 images are present locally", pending: true}, nil, ""},
		{verdictCase{name: "an external image missing", wantWhy: "1 of 1 external images are missing locally", pending: true}, []string{"ext:1"}, ""},
		{verdictCase{name: "a function image missing", pending: true}, []string{"fn:1"}, "image fn:1 (function) is missing locally: the deploy stage builds it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dry, err := planPull(m, nil, true)
			is.NoErr(err)
			is.True(strings.Contains(dry.Work, "1 external images missing in the daemon: ext:1"))
			real, err := planPull(m, tt.missing, false)
			if tt.wantErr != "" {
				errHas(t, err, tt.wantErr)
				return
			}
			is.NoErr(err)
			sameVerdict(t, tt.verdictCase, dry, real)
		})
	}
}

// The Manifest stage needs no daemon: for every reason the dry run's plan is the real run's
// decision, and the run's summary reports that decision.
func TestManifestVerdicts(t *testing.T) {
	const manifestJSON = `{"schema_version":"1.0","template":{"path":"a","sha256":"x"},"build":{"project":"p","env":"default","mode":"docker","image_prefix":"esb","image_tag":"latest"},"images":[{"name":"a:1","digest":"sha256:@","kind":"function"}]}`
	perTemplate := "a/.esb/default/bundle/manifest.json"
	cfg := preflightProject(t, map[string]string{
		"a/template.yaml":                     "Resources: {}\n",
		perTemplate:                           strings.ReplaceAll(manifestJSON, "@", strings.Repeat("a", 64)),
		"a/.esb/default/config/functions.yml": "functions:\n  fa: {image: esb-fa:1}\n",
	}, "TEMPLATE=a/template.yaml", "PRODUCER=true")
	tests := []struct {
		name      string
		change    func(*testing.T, *Bundler)
		wantFresh bool
		wantWhy   string
	}{
		{"first merge", nil, false, "does not exist yet"},
		{"up to date", nil, true, "is up to date"},
		{"FORCE", func(_ *testing.T, b *Bundler) { b.Config.Force = true }, false, "FORCE is set"},
		{"a template's manifest changed", func(t *testing.T, b *Bundler) {
			is.New(t).NoErr(os.WriteFile(b.Config.Templates[0].ManifestPath, []byte(strings.ReplaceAll(manifestJSON, "@", strings.Repeat("b", 64))), 0o644))
		}, false, "its settings or inputs changed"},
		{"the merged manifest unreadable", func(t *testing.T, b *Bundler) {
			is.New(t).NoErr(os.WriteFile(b.Config.Layout().MergedManifest(), []byte("{"), 0o644))
		}, false, "is unreadable"},
		{"the merged runtime config missing", func(t *testing.T, b *Bundler) { is.New(t).NoErr(os.RemoveAll(b.Config.Layout().MergedRuntimeConfig())) }, false, "runtime config"},
		{"up to date again", nil, true, "is up to date"},
	}
	for _, tt := range tests { // in order: each case starts from the outputs the one before left
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var log bytes.Buffer
			b := &Bundler{Config: cfg, Log: &log}
			if tt.change != nil {
				tt.change(t, b)
			}
			dry, _, err := b.planManifest()
			is.NoErr(err)
			is.NoErr(b.runStage(context.Background(), "manifest", (*Bundler).Manifest))
			st := readSummary(t, b).Stages[0]
			is.Equal(st.Ran, !tt.wantFresh)
			is.Equal(dry.Fresh, tt.wantFresh)
			is.True(strings.Contains(dry.Reason, tt.wantWhy))
			if tt.wantFresh {
				is.Equal(st.Why, "skipped, "+dry.Reason) // the decision the dry run printed
			} else {
				is.True(strings.Contains(log.String(), dry.Reason)) // the merge line names it
			}
		})
	}
}

func readSummary(t *testing.T, b *Bundler) Summary {
	t.Helper()
	is := is.New(t)
	data, err := os.ReadFile(b.SummaryPath())
	is.NoErr(err)
	var s Summary
	is.NoErr(json.Unmarshal(data, &s))
	return s
}

// A stage that logs a warning before it decides to skip (the Image stage warns about compose
// paths it cannot carry) is reported skipped, with its decision as the reason, not the warning.
func TestSkippedAfterAWarning(t *testing.T) {
	for _, ci := range []bool{false, true} {
		is := is.New(t)
		b, log := summaryBundler(t, ci)
		is.NoErr(b.runStage(context.Background(), "image", func(b *Bundler, ctx context.Context) error {
			b.logf("image: warning: ./data is outside the project: not carried")
			return b.carry(ctx, "image", fresh.Plan{Decision: fresh.Decision{Fresh: true, Reason: "x:1 is up to date"}, Work: "build x:1"})
		}))
		st := readSummary(t, b).Stages[0]
		is.Equal(st.Ran, false)
		is.Equal(st.Why, "skipped, x:1 is up to date")
		is.True(strings.Contains(log.String(), "image: warning: ./data is outside the project: not carried\nimage: skipped, x:1 is up to date\n")) // the lines users see
		is.True(!strings.Contains(log.String(), "image: done in"))                                                                                 // no closing line for a skipped stage
		if ci {
			is.True(strings.Contains(log.String(), `dindbundler: stage=image result=skipped seconds=`))
			is.True(strings.Contains(log.String(), `why="skipped, x:1 is up to date"`))
		}
	}
}
