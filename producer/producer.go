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
	"strings"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/builders"
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
	// Settings are every configuration value that decides what the run makes, by name (a
	// variable, or a description such as "the build plan"): the manifest is made again when
	// one changes, and the message names it (Settings; the pipeline adds the embedded
	// producer's plan).
	Settings map[string]string
	// Derived are the settings that follow from the others (the embedded producer's plan):
	// named as the reason only when nothing else changed.
	Derived []string
	// StatePath records the signature and content hash of every input when the manifest was
	// made, so a change is seen whatever its timestamp (fresh.Snapshot), and the settings'
	// hashes.
	StatePath string
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
		s.StatePath = c.Layout().DeployState(t.Stem)
		s.Settings = Settings(c, t)
		steps = append(steps, s)
	}
	return steps, nil
}

// offlineInputs are the embedded producer's inputs outside the template's directory: the
// ENV_VARS_FILE, the LAYER_MAP file and the local layers it maps.
func offlineInputs(c config.Config) ([]string, error) {
	// The file is read (and checked) here already, so a bad one fails the plan, not the build.
	if _, err := sam.LoadEnvVars(c.EnvVarsFile); err != nil {
		return nil, err
	}
	layers, layerFile, err := sam.LoadLayerMap(c.LayerMap, c.WorkDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range []string{c.EnvVarsFile, layerFile} {
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

// Settings are the configuration values that decide what a producer run for t makes, by the
// variable that sets each: the producer and its command line, the environment name, the
// embedded producer's settings (PARAMETER_OVERRIDES, names and tags, roots, the compose file)
// and every variable of the stack a producer reads — RUNTIME_BASE_<RUNTIME>,
// BUILD_IMAGE_<RUNTIME>, the builders' mirror and proxy variables, ENV_VARS_FILE, LAYER_MAP —
// plus, for an external producer, the brand's own variables (ESB_*), which it may read too.
// A variable that is unset is absent, so setting it is a change as well.
func Settings(c config.Config, t config.Template) map[string]string {
	producerLine := "embedded"
	if len(c.Producer) > 0 {
		producerLine = fmt.Sprintf("%q", Command(c, t))
	}
	s := map[string]string{
		"PRODUCER":                        producerLine,
		c.Brand.EnvPrefix + "_ENV":        c.Env,
		"PARAMETER_OVERRIDES":             c.ParameterOverrides,
		"PROJECT_NAME":                    c.Project,
		"IMAGE_PREFIX":                    c.ImagePrefix,
		"IMAGE_TAG":                       c.ImageTag,
		"PROJECT_ROOT":                    c.ProjectRoot,
		"COMPOSE_FILE":                    c.ComposeFile,
		"DEFAULTS_FILE":                   c.DefaultsFile,
		c.Brand.EnvPrefix + "_OUTPUT_DIR": t.OutputRoot,
		"BUNDLE_MANIFEST_PATH":            t.ManifestPath,
		"BUILD_DIR":                       c.BuildDir, // left out of build contexts
	}
	// CONTAINER_REGISTRY names the function images; unset, it is absent, so records made
	// before it existed stay fresh.
	if c.ContainerRegistry != "" {
		s["CONTAINER_REGISTRY"] = c.ContainerRegistry
	}
	for k, v := range c.Vars {
		if producerVariable(k) || (len(c.Producer) > 0 && strings.HasPrefix(k, c.Brand.EnvPrefix+"_")) {
			s[k] = v
		}
	}
	return s
}

// ProducerSetting is the setting naming the producer (PRODUCER, and its command line).
const ProducerSetting = "PRODUCER"

// producerVariable reports whether the embedded producer reads variable k of the stack.
func producerVariable(k string) bool {
	return strings.HasPrefix(k, "RUNTIME_BASE_") || strings.HasPrefix(k, builders.ImageVariablePrefix) ||
		k == sam.EnvVarsFileVariable || k == sam.LayerMapVariable || slices.Contains(builders.BuildVariables, k)
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

// ImageIDs looks up the IDs the engine has for images now; names it does not have are absent.
// The pipeline passes the engine's lookup; nil (a dry run) leaves the base images unchecked.
type ImageIDs func(names []string) (map[string]string, error)

// Check decides whether a step's manifest is fresh: timestamps first (an input newer than the
// manifest), then each input's recorded signature, with its content hashed only where the
// signature changed (a file restored with an older mtime is still seen), then the settings,
// then the IDs of the base images the manifest records (a base rebuilt or pulled anew under the
// same name) where the engine still has them.
func Check(s Step, force bool, ids ImageIDs) (fresh.Decision, error) {
	exists, mod, err := fresh.Output(s.Template.ManifestPath)
	if err != nil {
		return fresh.Decision{}, err
	}
	facts := fresh.Facts{Force: force, Output: s.Template.ManifestPath, OutputExists: exists, OutputTime: mod}
	var made manifest.Manifest
	if exists && !force {
		if made, err = manifest.Read(s.Template.ManifestPath); err != nil {
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
		if state.Inputs == nil {
			facts.InputsUnrecorded = true
		} else if _, facts.ChangedInput, err = fresh.Snapshot(s.Inputs, s.Exclude, state.Inputs); err != nil {
			return fresh.Decision{}, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
		}
		facts.RecordedSettings, facts.CurrentSettings = state.Settings, fresh.SettingHashes(s.Settings)
		facts.Derived = s.Derived
		if rec, ok := state.Settings[ProducerSetting]; ok && rec != facts.CurrentSettings[ProducerSetting] {
			// Another producer reads other settings: the producer is the whole reason.
			facts.RecordedSettings = map[string]string{ProducerSetting: rec}
			facts.CurrentSettings = map[string]string{ProducerSetting: facts.CurrentSettings[ProducerSetting]}
		}
		if d := fresh.Decide(facts); !d.Fresh || ids == nil {
			return d, nil
		}
		if facts.Recorded, facts.Current, err = baseIDs(made, ids); err != nil {
			return fresh.Decision{}, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
		}
	}
	return fresh.Decide(facts), nil
}

// baseIDs are the IDs of the base images m records and their current IDs, for the bases the
// engine still has: a base removed since does not make the functions built on it stale.
func baseIDs(m manifest.Manifest, ids ImageIDs) (recorded, current map[string]string, err error) {
	recorded = map[string]string{}
	var names []string
	for _, img := range m.Images {
		if img.Kind == manifest.KindBase {
			recorded[img.Name] = img.Digest
			names = append(names, img.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil, nil
	}
	current, err = ids(names)
	if err != nil {
		return nil, nil, fmt.Errorf("look up its base images: %w", err)
	}
	for name := range recorded {
		if _, ok := current[name]; !ok {
			delete(recorded, name)
		}
	}
	return recorded, current, nil
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

// RecordInputs stores what Snapshot took and the step's settings, next to the manifest the run
// made.
func RecordInputs(s Step, records map[string]fresh.FileRecord) error {
	if err := os.MkdirAll(filepath.Dir(s.StatePath), 0o755); err != nil {
		return fmt.Errorf("deploy %s: record its inputs: %w", s.Template.Path, err)
	}
	if records == nil {
		records = map[string]fresh.FileRecord{}
	}
	return fresh.WriteState(s.StatePath, fresh.State{Inputs: records, Settings: fresh.SettingHashes(s.Settings)})
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
