// Package producer runs the Deploy stage: per template, the producer (an external CLI named by
// PRODUCER, or the embedded one) builds the images and writes the template's manifest. The plan —
// which command for which template, and whether it can be skipped — is pure. It owns the
// producer contract (the command line, the manifest it must leave); it must not depend on the
// Docker engine (the embedded producer is passed in).
package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// Step is the Deploy work for one template.
type Step struct {
	Template config.Template
	Args     []string // the external producer's command line; nil for the embedded producer
	// Inputs are what the manifest is made from: for an external producer the template's
	// directory, the compose file and .env; for the embedded one the pipeline replaces them with
	// the files its plan reads (EmbeddedInputs).
	Inputs  []string
	Exclude []string // outputs inside those inputs
	// StatePath records the signature and content hash of every input when the manifest was
	// made, so a change is seen whatever its timestamp (fresh.Snapshot).
	StatePath string
	// Settings fingerprints the variables that change what the producer makes without being in
	// a file (CONTAINER_REGISTRY names the function images); "" when none is set, so a state
	// recorded before a setting existed stays fresh.
	Settings string
	// Outputs are files the producer writes beside the manifest (the embedded producer's
	// runtime config); a missing one makes the manifest stale.
	Outputs []string
}

// Plan lists the Deploy step of every template. It reads only the files ENV_VARS_FILE and
// LAYER_MAP name, whose contents are inputs too.
func Plan(c config.Config) ([]Step, error) {
	if err := c.RequireTemplates(); err != nil {
		return nil, err
	}
	offline, err := offlineInputs(c)
	if err != nil {
		return nil, err
	}
	steps := make([]Step, 0, len(c.Templates))
	for _, t := range c.Templates {
		s := Step{Template: t}
		if len(c.Producer) > 0 {
			s.Args = Command(c, t)
		}
		// The template's directory holds its code; the compose file and .env decide the
		// service images. Outputs (the producer's root, .<brand>, the build dir) are excluded
		// or every run would see its own output as a change.
		s.Inputs = []string{t.Path, t.Dir}
		for _, p := range []string{c.ComposeFile, c.DotEnvPath} {
			if _, err := os.Stat(p); err == nil {
				s.Inputs = append(s.Inputs, p)
			}
		}
		s.Inputs = append(s.Inputs, offline...)
		s.Exclude = []string{t.OutputRoot, filepath.Join(t.Dir, "."+c.Brand.Slug), c.BuildDir, filepath.Join(t.Dir, ".git"), t.ManifestPath}
		s.StatePath = filepath.Join(c.StateDir(), "deploy-"+t.Stem+".json")
		if c.ContainerRegistry != "" {
			s.Settings = fresh.Key("CONTAINER_REGISTRY=" + c.ContainerRegistry)
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// offlineInputs are the embedded producer's inputs outside the template's directory: the
// ENV_VARS_FILE, the LAYER_MAP file and the local layers it maps.
func offlineInputs(c config.Config) ([]string, error) {
	_, envFile, err := sam.LoadEnvVars(c.Vars[sam.EnvVarsFileVariable], c.WorkDir)
	if err != nil {
		return nil, err
	}
	layers, layerFile, err := sam.LoadLayerMap(c.Vars[sam.LayerMapVariable], c.WorkDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range []string{envFile, layerFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	for _, p := range layers {
		if _, err := os.Stat(p); err == nil && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Command is the external producer's command line for one template (the producer contract).
func Command(c config.Config, t config.Template) []string {
	args := append([]string{}, c.Producer...)
	args = append(args, "deploy", "--template", t.Path, "--env", c.Env, "--mode", "docker", "--build-only", "--bundle-manifest")
	if t.OutputExplicit {
		args = append(args, "--output", t.OutputRoot)
	}
	return args
}

// Check decides whether a step's manifest is fresh: timestamps first (an input newer than the
// manifest), then each input's recorded signature, with its content hashed only where the
// signature changed (a file restored with an older mtime is still seen).
func Check(s Step, force bool) (fresh.Decision, error) {
	exists, mod, err := fresh.Output(s.Template.ManifestPath)
	if err != nil {
		return fresh.Decision{}, err
	}
	facts := fresh.Facts{Force: force, Output: s.Template.ManifestPath, OutputExists: exists, OutputTime: mod}
	if exists && !force {
		if _, err := manifest.Read(s.Template.ManifestPath); err != nil {
			facts.OutputInvalid = err
		}
		for _, o := range s.Outputs {
			if _, err := os.Stat(o); err != nil && facts.OutputInvalid == nil {
				facts.OutputInvalid = fmt.Errorf("%s, written with it, is missing", o)
			}
		}
		facts.NewestInput, facts.NewestInputTime, err = fresh.Newest(s.Inputs, s.Exclude)
		if err != nil {
			return fresh.Decision{}, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
		}
		if d := fresh.Decide(facts); !d.Fresh {
			return d, nil // timestamps already tell: no file is read
		}
		state, err := fresh.ReadState(s.StatePath)
		if err != nil {
			return fresh.Decision{}, err
		}
		facts.RecordedKey, facts.CurrentKey = state.Key, s.Settings
		if state.Inputs == nil {
			facts.InputsUnrecorded = true
		} else if _, facts.ChangedInput, err = fresh.Snapshot(s.Inputs, s.Exclude, state.Inputs); err != nil {
			return fresh.Decision{}, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
		}
	}
	return fresh.Decide(facts), nil
}

// Snapshot records the step's inputs before it runs (reusing the hashes of files whose signature
// did not change); RecordInputs stores it once the run succeeded, so a file changed while the
// producer ran is seen as changed next time.
func Snapshot(s Step) (map[string]fresh.FileRecord, error) {
	state, err := fresh.ReadState(s.StatePath)
	if err != nil {
		return nil, err
	}
	records, _, err := fresh.Snapshot(s.Inputs, s.Exclude, state.Inputs)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
	}
	return records, nil
}

// RecordInputs stores what Snapshot took, next to the manifest the run made.
func RecordInputs(s Step, records map[string]fresh.FileRecord) error {
	if err := os.MkdirAll(filepath.Dir(s.StatePath), 0o755); err != nil {
		return fmt.Errorf("deploy %s: record its inputs: %w", s.Template.Path, err)
	}
	if records == nil {
		records = map[string]fresh.FileRecord{}
	}
	return fresh.WriteState(s.StatePath, fresh.State{Inputs: records, Key: s.Settings})
}

// Embedded runs the built-in producer for one template; set by the caller so this package does
// not depend on the Docker engine.
type Embedded func(ctx context.Context, t config.Template) error

// Run executes one step: the external command when the step has one, else embedded. The old
// manifest is removed first so a failed run never leaves one that looks fresh.
func Run(ctx context.Context, c config.Config, s Step, embedded Embedded, stdout, stderr io.Writer) error {
	manifestPath := s.Template.ManifestPath
	if err := fresh.RemoveState(s.StatePath); err != nil {
		return err
	}
	if err := os.Remove(manifestPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deploy %s: remove the old manifest: %w", s.Template.Path, err)
	}
	if s.Args == nil {
		if err := embedded(ctx, s.Template); err != nil {
			return fmt.Errorf("deploy %s (embedded producer): %w", s.Template.Path, err)
		}
	} else {
		cmd := exec.CommandContext(ctx, s.Args[0], s.Args[1:]...)
		cmd.Dir = c.WorkDir
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("deploy %s: producer %q failed: %w; its output is above", s.Template.Path, s.Args[0], err)
		}
	}
	if _, err := os.Stat(manifestPath); err != nil {
		return fmt.Errorf("deploy %s: the producer finished but wrote no manifest at %s: check the producer's --output/--env handling (or BUNDLE_MANIFEST_PATH)", s.Template.Path, manifestPath)
	}
	return nil
}
