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

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
)

// Step is the Deploy work for one template.
type Step struct {
	Template config.Template
	Args     []string // the external producer's command line; nil for the embedded producer
	Inputs   []string // what the manifest is made from
	Exclude  []string // outputs inside those inputs
}

// Plan lists the Deploy step of every template. It reads nothing.
func Plan(c config.Config) ([]Step, error) {
	if err := c.RequireTemplates(); err != nil {
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
		s.Exclude = []string{t.OutputRoot, filepath.Join(t.Dir, "."+c.Brand.Slug), c.BuildDir, filepath.Join(t.Dir, ".git"), t.ManifestPath}
		steps = append(steps, s)
	}
	return steps, nil
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

// Check decides whether a step's manifest is fresh.
func Check(s Step, force bool) (fresh.Decision, error) {
	exists, mod, err := fresh.Output(s.Template.ManifestPath)
	if err != nil {
		return fresh.Decision{}, err
	}
	facts := fresh.Facts{Force: force, Output: s.Template.ManifestPath, OutputExists: exists, OutputTime: mod}
	if exists && !force {
		facts.NewestInput, facts.NewestInputTime, err = fresh.Newest(s.Inputs, s.Exclude)
		if err != nil {
			return fresh.Decision{}, fmt.Errorf("deploy %s: %w", s.Template.Path, err)
		}
	}
	return fresh.Decide(facts), nil
}

// Embedded runs the built-in producer for one template; set by the caller so this package does
// not depend on the Docker engine.
type Embedded func(ctx context.Context, t config.Template) error

// Run executes one step: the external command when the step has one, else embedded. The old
// manifest is removed first so a failed run never leaves one that looks fresh.
func Run(ctx context.Context, c config.Config, s Step, embedded Embedded, stdout, stderr io.Writer) error {
	manifestPath := s.Template.ManifestPath
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
