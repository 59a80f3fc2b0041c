// Package samdeploy is the embedded producer: it builds the images of a SAM template (function
// images) and of a compose file (service images) through the Docker engine, and writes the
// per-template bundle manifest, following the contract of the external producer CLI
// (`deploy --template T --env E --mode docker --build-only --bundle-manifest [--output ROOT]`).
//
// Plan computes everything to build without touching the engine or the disk; Run parses the
// inputs, builds what Plan says and records the result.
package embedded

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dindbundler/dindbundler/producer/sam"
)

// ModeDocker is the only deploy mode the embedded producer implements: images in the local engine.
const ModeDocker = "docker"

// Request is one producer run: the contract flags plus what the environment supplies.
type Request struct {
	Template    string // SAM template path (--template)
	Env         string // environment name (--env)
	Mode        string // --mode; "" means ModeDocker
	OutputRoot  string // --output; default <template dir>/.<Brand>
	ProjectRoot string // the working directory: template paths are relative to it outside git
	// Root bounds what the producer reads (PROJECT_ROOT); "" finds it per file (internal/confine).
	Root        string
	ComposeFile string // "" when the stack has no compose file
	Brand       string // slug such as "esb": image labels com.<brand>.*, default output root
	Project     string // compose project name; default <brand>-<env>
	ImagePrefix string // function images are <prefix>-<function>:<tag>; default Brand
	ImageTag    string // default "latest"

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
}

// DefaultBrand is the brand slug when none is configured.
const DefaultBrand = "esb"

// ManifestPath is where the producer writes the manifest of env under outputRoot.
func ManifestPath(outputRoot, env string) string {
	return filepath.Join(outputRoot, env, "bundle", "manifest.json")
}

// composeProject is what `docker compose -p` accepts.
var composeProject = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// WithDefaults fills the defaults documented on Request and checks the fields that must be set.
// It touches neither the disk nor the engine, except to make the template path absolute.
func (r Request) WithDefaults() (Request, error) {
	if r.Template == "" {
		return r, fmt.Errorf("no SAM template given: pass --template")
	}
	if r.Env == "" {
		return r, fmt.Errorf("no environment given: pass --env")
	}
	if strings.ContainsAny(r.Env, `/\`) || r.Env == "." || r.Env == ".." {
		return r, fmt.Errorf("environment name %q must not contain slashes", r.Env)
	}
	if r.Mode == "" {
		r.Mode = ModeDocker
	}
	if r.Mode != ModeDocker {
		return r, fmt.Errorf("mode %q is not supported by the embedded producer: use --mode docker, or set PRODUCER to an external producer", r.Mode)
	}
	if r.Brand == "" {
		r.Brand = DefaultBrand
	}
	r.Brand = strings.ToLower(r.Brand)
	if !composeProject.MatchString(r.Brand) {
		return r, fmt.Errorf("brand %q must be lower-case letters, digits, - or _ (check CLI_CMD in the defaults file)", r.Brand)
	}
	if r.ProjectRoot == "" {
		r.ProjectRoot = "."
	}
	var err error
	if r.ProjectRoot, err = filepath.Abs(r.ProjectRoot); err != nil {
		return r, fmt.Errorf("resolve project root: %w", err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(r.ProjectRoot, p)
	}
	r.Template = abs(r.Template)
	if r.ComposeFile != "" {
		r.ComposeFile = abs(r.ComposeFile)
	}
	if r.OutputRoot == "" {
		r.OutputRoot = filepath.Join(filepath.Dir(r.Template), "."+r.Brand)
	}
	r.OutputRoot = abs(r.OutputRoot)
	if r.Project == "" {
		r.Project = strings.ToLower(r.Brand + "-" + r.Env)
	}
	if !composeProject.MatchString(r.Project) {
		return r, fmt.Errorf("project name %q is not a valid compose project name (lower-case letters, digits, - and _, starting with a letter or digit): set PROJECT_NAME", r.Project)
	}
	if r.ImagePrefix == "" {
		r.ImagePrefix = r.Brand
	}
	if r.ImageTag == "" {
		r.ImageTag = "latest"
	}
	return r, nil
}

// samOptions are the parse options of the request's template.
func (r Request) samOptions() sam.Options {
	return sam.Options{ParameterOverrides: r.ParameterOverrides, EnvVars: r.EnvVars, LayerMap: r.LayerMap}
}
