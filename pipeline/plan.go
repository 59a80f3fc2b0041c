package pipeline

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// PrintPlan writes the resolved configuration and what each stage would do, and why, without
// contacting Docker or writing anything. Decisions that need the daemon's image IDs are named as
// such.
func (b *Bundler) PrintPlan(w io.Writer) error {
	c := b.Config
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("dry run: nothing is built and Docker is not contacted")
	p("configuration:")
	p("  work dir         %s", c.WorkDir)
	p("  defaults file    %s (brand %s, CLI %s, variable prefix %s_)", c.DefaultsFile, c.Brand.Slug, c.Brand.CLICmd, c.Brand.EnvPrefix)
	p("  environment      %s (from %s)", c.Env, c.EnvSource)
	if len(c.Producer) > 0 {
		p("  producer         %s", strings.Join(c.Producer, " "))
	} else {
		p("  producer         embedded SAM producer (PRODUCER is unset)")
	}
	if len(c.Templates) == 0 {
		p("  templates        none: TEMPLATE is not set (required from the deploy stage on)")
	}
	for _, t := range c.Templates {
		if t.Artifact != nil {
			p("  artifact entry   %s", t.Path)
			p("    artifact root  %s", t.OutputRoot)
			p("    manifest       %s (the deploy stage writes it)", t.ManifestPath)
			continue
		}
		p("  template         %s", t.Path)
		p("    output root    %s (passed as --output: %t)", t.OutputRoot, t.OutputExplicit)
		p("    manifest       %s", t.ManifestPath)
	}
	p("  cert dir         %s (in the bundle: %s, owner %d:%d)", c.CertDir, c.CertTarget, c.RunUID, c.RunGID)
	p("  compose file     %s", c.ComposeFile)
	if c.ConfigDir != "" {
		p("  config dir       %s", c.ConfigDir)
	} else {
		p("  config dir       none (CONFIG_DIR does not exist)")
	}
	p("  .env             %s", c.DotEnvPath)
	p("  base image       %s", c.DindBaseImage)
	if c.ContainerRegistry != "" {
		p("  registry         %s (images named under it are served by the bundle, not loaded at boot)", c.ContainerRegistry)
	} else {
		p("  registry         none (CONTAINER_REGISTRY unset: function images keep bare names and are loaded at boot)")
	}
	p("  build dir        %s", c.BuildDir)
	p("  merged manifest  %s", c.Layout().MergedManifest())
	p("  layer store      %s (layers compressed as %s; saved images listed in %s)", b.storeDir(), c.Compression, b.setPath())
	p("  bundle tag       %s", c.BundleTag)
	p("  force            %t", c.Force)
	p("stages:")
	if _, err := certs.Check(c.CertDir, b.now()); err != nil {
		p("  certs     would FAIL: %v", err)
	} else {
		p("  certs     would check %s: passes now", c.CertDir)
	}
	if len(c.Artifacts) > 0 {
		p("  deploy    would validate %s (no producer runs) and check that the images they and the compose file name are local (PREPARE_IMAGES=%t pulls missing ones)", strings.Join(c.Artifacts, ", "), c.PrepareImages)
	}
	steps, err := b.deploySteps()
	if len(c.Artifacts) > 0 {
		steps, err = nil, nil
	}
	if err != nil {
		p("  deploy    would FAIL: %v", err)
		if errors.Is(err, config.ErrClash) {
			return err // refused before any work, in a dry run too
		}
		return nil
	}
	for _, s := range steps {
		// The stage's own plan, from the same settings and files; only the base images' IDs
		// need the daemon.
		d, err := b.planDeploy(s, nil)
		switch {
		case err != nil:
			p("  deploy    %s: would FAIL: %v", s.Template.Path, err)
		case d.Fresh:
			p("  deploy    %s: would skip, %s, unless %s changed", s.Template.Path, d.Reason, d.Pending)
		default:
			p("  deploy    %s: would run: %s; %s", s.Template.Path, d.Reason, d.Work)
		}
		if err == nil && s.Args == nil {
			printFunctionPlans(w, c, s.Template)
		}
	}
	if d, configs, err := b.planManifest(); err != nil {
		p("  manifest  would merge: %v", err)
	} else {
		p("  manifest  would %s, %s", verb(d), d.Reason)
		printRuntimeConfigPlan(w, c.Layout().MergedRuntimeConfig(), configs)
	}
	m, err := manifest.Read(c.Layout().MergedManifest())
	if err == nil {
		if err := c.CheckBundleTag("the manifest", m.Names()); err != nil {
			p("  manifest  would FAIL: %v", err)
			return err
		}
	}
	if err != nil {
		p("  pull      decided after the merge (no merged manifest yet)")
		p("  save      would export every manifest image the layer store lacks into %s", b.storeDir())
		p("  image     would build %s", c.BundleTag)
		return nil
	}
	if d, err := planPull(m, nil, true); err == nil {
		p("  pull      would %s", d.Work)
	}
	// The stage's own decision; the daemon's image IDs and the stored files' contents wait for
	// the real run, and the store is only looked at (not Open: a dry run creates nothing).
	if d, err := b.planSave(m.Names(), nil, &layerstore.Store{Dir: b.storeDir()}); err != nil {
		p("  save      would FAIL: %v", err)
	} else if d.Fresh {
		p("  save      would skip if the daemon's image IDs equal the recorded ones (%d images); files: %s", len(m.Images), d.Reason)
	} else {
		p("  save      would %s, %s", d.Work, d.Reason)
	}
	state, err := fresh.ReadState(b.statePath("image"))
	if err != nil {
		p("  image     would FAIL: %v", err)
	} else if d := b.planImage(state, nil, nil); d.Fresh {
		p("  image     would build %s unless its context fingerprint and image ID match the last build (checked in the daemon); only image layers the engine lacks are sent", c.BundleTag)
	} else {
		p("  image     would %s, %s; only image layers the engine lacks are sent", d.Work, d.Reason)
	}
	return nil
}

// verb is what a plan would do: skip, or its work.
func verb(p fresh.Plan) string {
	if p.Fresh {
		return "skip"
	}
	return p.Work
}

// printRuntimeConfigPlan says what the Manifest stage would write as the bundle's runtime config.
func printRuntimeConfigPlan(w io.Writer, dir string, configs []runtimeconfig.DirPart) {
	files, merged, err := runtimeconfig.MergeDirs(configs)
	switch {
	case err != nil:
		fmt.Fprintf(w, "            runtime config would FAIL: %v\n", err)
	case len(files) == 0:
		fmt.Fprintf(w, "            runtime config: no template has one yet (the deploy stage writes it): none in the bundle\n")
	default:
		names := slices.Sorted(maps.Keys(files))
		fmt.Fprintf(w, "            runtime config %s: %s (%d functions, %d routes), in the bundle at /app/config\n",
			dir, strings.Join(names, ", "), len(merged.Functions.Functions), len(merged.Routing.Routes))
	}
}
