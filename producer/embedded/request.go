// Package embedded is the embedded producer: it builds the images of a SAM template (function
// images) and of a compose file (service images) through the Docker engine, and writes the
// per-template bundle manifest, following the contract of the external producer CLI
// (`deploy --template T --env E --mode docker --build-only --bundle-manifest [--output ROOT]`).
//
// Plan computes everything to build without touching the engine or the disk; Run parses the
// inputs, builds what Plan says and records the result. It takes a resolved Request (FromConfig):
// it must not compute defaults, which are internal/config's, and it reaches the engine only
// through internal/engine, and BuildKit only through internal/buildkit.
package embedded

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// ModeDocker is the only deploy mode the embedded producer implements: images in the local engine.
const ModeDocker = "docker"

// Request is one producer run: the contract flags plus what the environment supplies, every
// value resolved (by internal/config, see FromConfig): the producer computes no defaults.
type Request struct {
	Template    string // SAM template path (--template), absolute
	Env         string // environment name (--env)
	Mode        string // --mode: ModeDocker
	OutputRoot  string // --output, or the default <template dir>/.<Brand>; absolute
	ProjectRoot string // the working directory: template paths are relative to it outside git
	// Root bounds what the producer reads (PROJECT_ROOT); "" finds it per file (internal/confine).
	Root        string
	ComposeFile string // "" when the stack has no compose file
	Brand       string // slug such as "esb": image labels com.<brand>.*
	Project     string // compose project name
	ImagePrefix string // function images are [<registry>/]<prefix>-<function>:<tag>
	ImageTag    string
	// ContainerRegistry is the registry host[:port] the stack pulls function images from
	// (CONTAINER_REGISTRY); "" names them without one.
	ContainerRegistry string

	ParameterOverrides map[string]string // win over the template's Parameter defaults
	// EnvVars override declared environment variables, as `sam local --env-vars` does
	// (ENV_VARS_FILE); LayerMap maps published layer ARNs to local content (LAYER_MAP).
	EnvVars  map[string]map[string]string
	LayerMap map[string]string
	// Vars are the variables of the stack (.env overlaid by the environment): compose
	// interpolation and RUNTIME_BASE_<RUNTIME> overrides.
	Vars map[string]string
	// RuntimeBases maps a runtime ("python3.12", or its variable suffix "PYTHON3_12") to the base
	// image of its functions, overriding the public AWS Lambda images.
	RuntimeBases map[string]string
	// Exclude lists absolute paths never sent in a build context, like the producer's own output
	// root: the bundler's build directory (images archives) when a context is the project root.
	Exclude []string
	// CodeFiles lists the top level of each code and layer directory (ScanCode), so Plan picks
	// builders without reading the disk; Run fills it.
	CodeFiles map[string][]string
	// Force builds every image, whatever the records of earlier runs say (FORCE).
	Force bool
	// Builder chooses the builder (DEPLOY_BUILDER: BuilderAuto, BuilderBuildKit, BuilderClassic);
	// BuildKitHost names a standalone buildkitd (BUILDKIT_HOST), "" the engine's own BuildKit.
	Builder, BuildKitHost string
	// Builders are several BuildKit builders sharing the images (BUILDERS: BUILDKIT_HOST
	// addresses, or EngineBuilder); none: the one Builder and BuildKitHost choose.
	Builders []string
	// ImageLayout is the OCI image layout of a standalone buildkitd's images (BUILD_DIR/oci-layout,
	// in the bundler's build directory); "" one under OutputRoot.
	ImageLayout string
	// BuildCache is the BuildKit cache every build imports and exports (BUILD_CACHE:
	// type=local,dest=DIR or type=registry,ref=NAME); "" none.
	BuildCache string
	// Notes receives the lines said once per run (the classic builder's fallback); nil prints
	// them with the progress.
	Notes func(string)
}

// ManifestPath is where the producer writes the request's manifest.
func (r Request) ManifestPath() string { return config.ProducerManifestPath(r.OutputRoot, r.Env) }

// ImageLayoutDir is the OCI image layout a standalone buildkitd exports the images into
// (ImageLayout, else one under OutputRoot), kept between runs: a layer already there does not
// cross from the buildkitd again.
func (r Request) ImageLayoutDir() string {
	if r.ImageLayout != "" {
		return r.ImageLayout
	}
	return filepath.Join(r.OutputRoot, "oci-layout")
}

// RuntimeConfigDir is where the producer writes the request's functions.yml and routing.yml.
func (r Request) RuntimeConfigDir() string { return config.ProducerConfigDir(r.OutputRoot, r.Env) }

// composeProject is what `docker compose -p` accepts.
var composeProject = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// check refuses a request the producer cannot run: a field left empty, or a value the engine or
// compose would refuse later, with less to go on.
func (r Request) check() error {
	switch {
	case r.Template == "":
		return fmt.Errorf("no SAM template given: pass --template")
	case r.Env == "":
		return fmt.Errorf("no environment given: pass --env")
	case strings.ContainsAny(r.Env, `/\`) || r.Env == "." || r.Env == "..":
		return fmt.Errorf("environment name %q must not contain slashes", r.Env)
	case r.Mode != ModeDocker:
		return fmt.Errorf("mode %q is not supported by the embedded producer: use --mode docker, or set PRODUCER to an external producer", r.Mode)
	case !composeProject.MatchString(r.Brand):
		return fmt.Errorf("brand %q must be lower-case letters, digits, - or _ (check CLI_CMD in the defaults file)", r.Brand)
	case !composeProject.MatchString(r.Project):
		return fmt.Errorf("project name %q is not a valid compose project name (lower-case letters, digits, - and _, starting with a letter or digit): set PROJECT_NAME", r.Project)
	case !filepath.IsAbs(r.Template) || !filepath.IsAbs(r.OutputRoot) || !filepath.IsAbs(r.ProjectRoot):
		return fmt.Errorf("template %q, output root %q and project root %q must be absolute paths (resolve the request with FromConfig)", r.Template, r.OutputRoot, r.ProjectRoot)
	case r.ImagePrefix == "" || r.ImageTag == "":
		return fmt.Errorf("image prefix %q and tag %q must be set (resolve the request with FromConfig)", r.ImagePrefix, r.ImageTag)
	}
	return nil
}

// samOptions are the parse options of the request's template.
func (r Request) samOptions() sam.Options {
	return sam.Options{ParameterOverrides: r.ParameterOverrides, EnvVars: r.EnvVars, LayerMap: r.LayerMap}
}

// note says line once per run: through Notes when set (which may say it once for several runs),
// else on progress.
func (r Request) note(progress io.Writer, line string) {
	if r.Notes != nil {
		r.Notes(line)
		return
	}
	fmt.Fprintln(progress, line)
}
