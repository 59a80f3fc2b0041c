// Package config resolves the bundler's configuration once, from environment variables, the
// project's .env and the brand defaults file, into one typed struct that every stage reads and a
// dry run prints. It is the one owner of every default and every precedence rule, also for the
// embedded producer and its command (LoadFlags); no other package may compute one of these
// defaults or read these variables itself. It reads DEFAULTS_FILE and .env but nothing else of
// the machine, besides whether the files it names exist. It checks every value it can when it
// reads them (an error never prints a value of .env), and CheckFiles the files a run needs.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distribution/reference"

	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/layerfile"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Defaults that are not derived from the brand.
const (
	DefaultDefaultsFile  = "config/defaults.env"
	DefaultBuildDir      = "build"
	DefaultConfigDir     = "config"
	DefaultDindBaseImage = "docker:28.5-dind"
	DefaultRunID         = 1000
	DefaultCLICmd        = "esb"     // the brand when DEFAULTS_FILE sets no CLI_CMD
	DefaultEnvPrefix     = "ESB"     // when DEFAULTS_FILE sets no ENV_PREFIX
	DefaultEnv           = "default" // the environment name when nothing sets one
	DefaultImageTag      = "latest"
	// DefaultContainerRegistry is the stack's own CONTAINER_REGISTRY default (its compose
	// file's), the address its agent pulls function images from. dindbundler does not assume
	// it: unset, function images keep bare names and are loaded at boot.
	DefaultContainerRegistry = "127.0.0.1:5010"

	// MaxRunID is the largest RUN_UID/RUN_GID: 2^32-2 (2^32-1 means "no id" to the kernel).
	MaxRunID = 1<<32 - 2
)

// DefaultCompression is BUNDLE_COMPRESSION's default (the names are package layerfile's): zstd
// measured smallest and fastest to build and boot on the benchmark (README, Performance).
const DefaultCompression = layerfile.Zstd

// Brand is what DEFAULTS_FILE names: the producer CLI and the prefix of its variables.
type Brand struct {
	CLICmd    string // CLI_CMD, default "esb"
	Slug      string // lower-case CLICmd: ".esb" directories, "esb-dind-bundle" tags
	EnvPrefix string // ENV_PREFIX, default "ESB": ESB_ENV, ESB_OUTPUT_DIR
}

// Template is one SAM template and where the producer writes for it.
type Template struct {
	Path           string // absolute
	Dir            string
	Stem           string // file name without extension, de-duplicated (-2, -3, …)
	OutputRoot     string // producer's output root
	OutputExplicit bool   // pass --output to the producer
	ManifestPath   string // <OutputRoot>/<env>/bundle/manifest.json, or BUNDLE_MANIFEST_PATH
	// RuntimeConfigDir holds the template's functions.yml and routing.yml:
	// <OutputRoot>/<env>/config (ProducerConfigDir).
	RuntimeConfigDir string
	// Artifact is set when the template is an entry of an artifact.yml (ARTIFACT): Path then
	// names the file and the entry, OutputRoot is the entry's artifact root, ManifestPath the
	// manifest the Deploy stage writes for it under BUILD_DIR/artifacts, and no producer runs.
	Artifact *ArtifactRef
}

// ArtifactRef is where a template of ARTIFACT comes from.
type ArtifactRef struct {
	File           string // the artifact.yml, absolute
	Index          int    // in its artifacts[]
	ID             string
	BundleManifest string // the entry's bundle manifest, absolute; "" when it names none
}

// Config is the whole resolved configuration.
type Config struct {
	WorkDir      string
	DefaultsFile string
	Brand        Brand

	Env       string
	EnvSource string // where Env came from, for the dry run

	Templates []Template // empty when TEMPLATE is unset; RequireTemplates says what to do
	// Artifacts are the artifact.yml files ARTIFACT names (a directory stands for its
	// artifact.yml); their entries are the Templates, and Deploy validates them instead of
	// running a producer.
	Artifacts []string
	// PrepareImages (PREPARE_IMAGES=1): with ARTIFACT, pull the images the artifacts name that
	// are missing locally instead of failing.
	PrepareImages bool

	BundleTag   string
	CertDir     string
	CertTarget  string // where the certificates live inside the bundle: /root/.<brand>/certs
	Producer    []string
	ComposeFile string
	// ComposeExplicit: COMPOSE_FILE named it, so a missing file is an error rather than "no
	// compose file".
	ComposeExplicit bool
	ConfigDir       string // empty when the directory does not exist
	ProjectRoot     string // PROJECT_ROOT: what the bundle may read from; "" means found (internal/confine)
	DotEnvPath      string
	DotEnv          map[string]string // ./.env, nil when absent
	DindBaseImage   string
	BuildDir        string
	// CacheDir holds what the build may reuse across build directories because it is named by
	// content (CACHE_DIR; default $XDG_CACHE_HOME/dindbundler, else ~/.cache/dindbundler; empty
	// when neither is known: nothing is cached there).
	CacheDir    string
	RunUID      int
	RunGID      int
	Compression layerfile.Compression

	// Read by the embedded producer.
	ParameterOverrides string
	// EnvVarsFile is ENV_VARS_FILE, absolute ("" when unset): the `sam local --env-vars` file
	// of the functions' environment overrides (producer/sam.LoadEnvVars reads it).
	EnvVarsFile string
	// LayerMap is LAYER_MAP as written ("" when unset): ARN=path entries, or the path of a file
	// of them, relative to WorkDir (producer/sam.LoadLayerMap tells them apart and reads them).
	LayerMap     string
	Project      string
	ImagePrefix  string
	ImageTag     string
	RuntimeBases map[string]string // RUNTIME_BASE_<RUNTIME> values, keyed by variable suffix
	Vars         map[string]string // .env overlaid by the environment: compose interpolation

	// ContainerRegistry (CONTAINER_REGISTRY, host[:port]) is the registry the stack pulls
	// function images from: function images are named <registry>/<prefix>-<function>:<tag>;
	// "" (unset) keeps <prefix>-<function>:<tag>. The bundle's own read-only registry serves,
	// on that address inside the bundle, every image named under it, which are then not
	// loaded at boot.
	ContainerRegistry string

	Force   bool
	DryRun  bool
	Verbose bool // MAGEFILE_VERBOSE (mage -v): builds print every line
}

// FromEnvironment resolves the configuration of the process: its environment and working directory.
func FromEnvironment() (Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Config{}, fmt.Errorf("resolve configuration: %w", err)
	}
	return Load(os.Environ(), wd)
}

// Load resolves the configuration from environ (KEY=VALUE entries, os.Environ's shape) relative
// to workDir. It reads DEFAULTS_FILE and ./.env but nothing else of the machine.
func Load(environ []string, workDir string) (Config, error) {
	return LoadFlags(environ, workDir, Flags{})
}

// Flags are what a producer command line says (`deploy --template T --env E [--output ROOT]`).
// Env, when set, wins over every variable. Template, when set, is the one template, and Output
// its output root (empty: the default, <template dir>/.<brand>); the variables that say the same
// for the bundler (TEMPLATE, <PREFIX>_OUTPUT_DIR, BUNDLE_MANIFEST_PATH) are then not read.
type Flags struct {
	Template string
	Env      string
	Output   string
}

// LoadFlags is Load with a producer command's flags on top (see Flags).
func LoadFlags(environ []string, workDir string, f Flags) (Config, error) {
	r := &resolver{env: EnvMap(environ), flags: f, c: Config{WorkDir: workDir}}
	// The order matters: later steps read what earlier ones resolved (brand, .env, env name).
	for _, step := range []func() error{
		r.brand, r.dotEnv, r.envName, r.bundle, r.producer, r.switches, r.runIDs,
		r.compression, r.images, r.templates,
	} {
		if err := step(); err != nil {
			return Config{}, err
		}
	}
	return r.c, nil
}

// resolver holds what Load reads while its steps fill c, one concern each.
type resolver struct {
	env   map[string]string
	flags Flags
	c     Config
}

func (r *resolver) get(k string) string { return strings.TrimSpace(r.env[k]) }

// abs resolves p against the work directory.
func (r *resolver) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.c.WorkDir, p)
}

// prefixed is the brand's variable for name: ESB_ENV, ACME_OUTPUT_DIR.
func (r *resolver) prefixed(name string) string { return r.c.Brand.EnvPrefix + "_" + name }

// envOrDotEnv reads k from the environment, else from .env, and says where it came from.
func (r *resolver) envOrDotEnv(k string) (value, source string) {
	if v := r.get(k); v != "" {
		return v, "environment " + k
	}
	if v := r.c.DotEnv[k]; v != "" {
		return v, ".env " + k
	}
	return "", ""
}

// shown is `=<value quoted>` for an error about a value, or "" when the value came from .env:
// no error prints a value of .env, which holds secrets.
func (r *resolver) shown(v, source string) string {
	if strings.HasPrefix(source, ".env") {
		return ""
	}
	return fmt.Sprintf("=%q", v)
}

// brand reads DEFAULTS_FILE: the CLI name and the prefix of its variables.
func (r *resolver) brand() error {
	c := &r.c
	c.DefaultsFile = r.abs(orDefault(r.get("DEFAULTS_FILE"), DefaultDefaultsFile))
	defaults, err := readOptionalEnvFile("DEFAULTS_FILE", c.DefaultsFile, r.env)
	if err != nil {
		return err
	}
	// A DEFAULTS_FILE the user names must exist: a typo would otherwise build the esb brand.
	if defaults == nil && r.get("DEFAULTS_FILE") != "" {
		return fmt.Errorf("DEFAULTS_FILE=%s: file not found: fix the path or unset DEFAULTS_FILE", c.DefaultsFile)
	}
	c.Brand.CLICmd = orDefault(defaults["CLI_CMD"], DefaultCLICmd)
	c.Brand.Slug = strings.ToLower(c.Brand.CLICmd)
	c.Brand.EnvPrefix = orDefault(defaults["ENV_PREFIX"], DefaultEnvPrefix)
	return nil
}

// dotEnv reads the project's .env.
func (r *resolver) dotEnv() error {
	r.c.DotEnvPath = filepath.Join(r.c.WorkDir, ".env")
	var err error
	r.c.DotEnv, err = readOptionalEnvFile("the project's .env", r.c.DotEnvPath, r.env)
	return err
}

// envName: the --env flag, else <PREFIX>_ENV, else .env's ENV, else "default".
func (r *resolver) envName() error {
	c := &r.c
	switch v := r.get(r.prefixed("ENV")); {
	case r.flags.Env != "":
		c.Env, c.EnvSource = r.flags.Env, "flag --env"
	case v != "":
		c.Env, c.EnvSource = v, "environment "+r.prefixed("ENV")
	case c.DotEnv["ENV"] != "":
		c.Env, c.EnvSource = c.DotEnv["ENV"], ".env ENV"
	default:
		c.Env, c.EnvSource = DefaultEnv, "default"
	}
	if err := checkName(c.Env); err != nil {
		return fmt.Errorf("environment name%s (from %s) %w", r.shown(c.Env, c.EnvSource), c.EnvSource, err)
	}
	return nil
}

// bundle resolves what goes into the bundle and where the build writes.
func (r *resolver) bundle() error {
	c := &r.c
	c.BundleTag = orDefault(r.get("BUNDLE_TAG"), c.Brand.Slug+"-dind-bundle:latest")
	c.CertDir = r.abs(orDefault(r.get("CERT_DIR"), filepath.Join("."+c.Brand.Slug, "certs")))
	c.CertTarget = "/root/." + c.Brand.Slug + "/certs"
	if cf := r.get("COMPOSE_FILE"); cf != "" {
		c.ComposeFile, c.ComposeExplicit = r.abs(cf), true
	} else if exists(filepath.Join(c.WorkDir, "docker-compose.docker.yml")) {
		c.ComposeFile = filepath.Join(c.WorkDir, "docker-compose.docker.yml")
	} else {
		c.ComposeFile = filepath.Join(c.WorkDir, "docker-compose.yml")
	}
	configDir := r.abs(orDefault(r.get("CONFIG_DIR"), DefaultConfigDir))
	if err := userfile.Check("CONFIG_DIR", configDir); err != nil {
		return err
	}
	if dir := configDir; isDir(dir) {
		c.ConfigDir = dir
	} else if r.get("CONFIG_DIR") != "" {
		// A typo must not ship an empty /app/config (as with COMPOSE_FILE and DEFAULTS_FILE).
		return fmt.Errorf("CONFIG_DIR=%s: directory not found: fix the path or unset CONFIG_DIR", dir)
	}
	if v := r.get("PROJECT_ROOT"); v != "" {
		c.ProjectRoot = r.abs(v)
	}
	c.DindBaseImage = orDefault(r.get("DIND_BASE_IMAGE"), DefaultDindBaseImage)
	c.BuildDir = r.abs(orDefault(r.get("BUILD_DIR"), DefaultBuildDir))
	c.CacheDir = r.cacheDir()
	if err := checkImageName(c.BundleTag, false); err != nil {
		return fmt.Errorf("BUNDLE_TAG=%q %w: set it to name[:tag], e.g. %s-dind-bundle:latest", c.BundleTag, err, c.Brand.Slug)
	}
	if err := checkImageName(c.DindBaseImage, true); err != nil {
		return fmt.Errorf("DIND_BASE_IMAGE=%q %w: set it to an image such as %s", c.DindBaseImage, err, DefaultDindBaseImage)
	}
	// Built on itself, every run would stack the previous bundle's layers under the next.
	if NormalTag(c.BundleTag) == NormalTag(c.DindBaseImage) {
		return fmt.Errorf("BUNDLE_TAG=%s names the same image as DIND_BASE_IMAGE=%s (both are %s): each run would build on the previous bundle; choose another BUNDLE_TAG", c.BundleTag, c.DindBaseImage, NormalTag(c.BundleTag))
	}
	return nil
}

// cacheDir is CACHE_DIR, else the user's cache directory as os.UserCacheDir finds it on Linux
// (XDG_CACHE_HOME, else HOME/.cache) plus "dindbundler"; "" when none is set.
func (r *resolver) cacheDir() string {
	if v := r.get("CACHE_DIR"); v != "" {
		return r.abs(v)
	}
	if v := r.get("XDG_CACHE_HOME"); filepath.IsAbs(v) {
		return filepath.Join(v, "dindbundler")
	}
	if v := r.get("HOME"); filepath.IsAbs(v) {
		return filepath.Join(v, ".cache", "dindbundler")
	}
	return ""
}

// checkImageName refuses what the engine would refuse only at the Image stage: a name that is no
// image reference (spaces, upper case, a trailing colon, control characters), or a digest where a
// tag is built.
func checkImageName(name string, digestOK bool) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Errorf("is not a valid image name (%v)", err)
	}
	if _, ok := ref.(reference.Digested); ok && !digestOK {
		return errors.New("names a digest, but a built image gets a tag")
	}
	return nil
}

// producer reads PRODUCER, the external producer's command line.
func (r *resolver) producer() error {
	p := r.get("PRODUCER")
	if p == "" {
		return nil
	}
	var err error
	if r.c.Producer, err = splitCommand(p); err != nil {
		return fmt.Errorf("PRODUCER: %w", err)
	}
	return nil
}

// switches reads FORCE, DRYRUN and MAGEFILE_VERBOSE.
func (r *resolver) switches() error {
	r.c.Force = truthy(r.get("FORCE"))
	r.c.DryRun = truthy(r.get("DRYRUN")) || truthy(r.get("DIND_BUNDLER_DRYRUN"))
	r.c.Verbose = truthy(r.get("MAGEFILE_VERBOSE"))
	r.c.PrepareImages = truthy(r.get("PREPARE_IMAGES"))
	return nil
}

// runIDs reads RUN_UID and RUN_GID from the environment or .env.
func (r *resolver) runIDs() error {
	for _, id := range []struct {
		name string
		dst  *int
	}{{"RUN_UID", &r.c.RunUID}, {"RUN_GID", &r.c.RunGID}} {
		*id.dst = DefaultRunID
		if v, src := r.envOrDotEnv(id.name); v != "" {
			// 2^32-1 is (uid_t)-1, "no id", to the kernel; larger values used to wrap silently.
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n > MaxRunID {
				return fmt.Errorf("%s%s (from %s) is not a uid/gid from 0 to %d: set it to a numeric id such as 1000", id.name, r.shown(v, src), src, uint64(MaxRunID))
			}
			*id.dst = int(n)
		}
	}
	return nil
}

// compression reads BUNDLE_COMPRESSION: the one place it is checked.
func (r *resolver) compression() error {
	v := orDefault(r.get("BUNDLE_COMPRESSION"), string(DefaultCompression))
	c, ok := layerfile.Parse(v)
	if !ok {
		return fmt.Errorf("BUNDLE_COMPRESSION=%q: use none, gzip or zstd", v)
	}
	r.c.Compression = c
	return nil
}

// tagProbe is any name: reference.WithTag checks only the tag against it.
var tagProbe, _ = reference.WithName("probe")

// images resolves what the embedded producer names and builds its images with.
func (r *resolver) images() error {
	c := &r.c
	c.ParameterOverrides = r.get("PARAMETER_OVERRIDES")
	if v := r.get("ENV_VARS_FILE"); v != "" {
		c.EnvVarsFile = r.abs(v)
	}
	c.LayerMap = r.get("LAYER_MAP")
	// docker compose accepts only lower-case project names.
	c.Project = orDefault(r.get("PROJECT_NAME"), strings.ToLower(c.Brand.Slug+"-"+c.Env))
	c.ImagePrefix = orDefault(r.get("IMAGE_PREFIX"), c.Brand.Slug)
	c.ImageTag = orDefault(r.get("IMAGE_TAG"), DefaultImageTag)
	if _, err := reference.WithTag(tagProbe, c.ImageTag); err != nil {
		return fmt.Errorf("IMAGE_TAG=%q is not a valid image tag (letters, digits, _ . -, at most 128, not starting with . or -): fix IMAGE_TAG", c.ImageTag)
	}
	if err := r.containerRegistry(); err != nil {
		return err
	}
	c.Vars = overlay(c.DotEnv, r.env)
	c.RuntimeBases = map[string]string{}
	for k, v := range c.Vars {
		if suffix, ok := strings.CutPrefix(k, "RUNTIME_BASE_"); ok && v != "" {
			c.RuntimeBases[suffix] = v
		}
	}
	return nil
}

// containerRegistry reads CONTAINER_REGISTRY from the environment or .env (the stack's compose
// reads it there too): a registry host with an optional port, nothing else.
func (r *resolver) containerRegistry() error {
	v, src := r.envOrDotEnv("CONTAINER_REGISTRY")
	if v == "" {
		return nil
	}
	if err := checkRegistry(v); err != nil {
		return fmt.Errorf("CONTAINER_REGISTRY%s (from %s) %w: set it to host[:port], e.g. 127.0.0.1:5010, or unset it", r.shown(v, src), src, err)
	}
	r.c.ContainerRegistry = v
	return nil
}

// checkRegistry refuses what is not a registry host[:port]: a path, a scheme, or a
// name the engine would take for a Docker Hub namespace (no dot, no port, not localhost).
func checkRegistry(v string) error {
	ref, err := reference.ParseNormalizedNamed(v + "/probe")
	if err != nil || reference.Domain(ref) != v {
		return errors.New("is not a registry host[:port] (a host with a dot or a port, or localhost; no scheme, no path)")
	}
	return nil
}

// templates resolves TEMPLATE (or the --template flag) into templates with their output roots
// and manifest paths.
func (r *resolver) templates() error {
	c := &r.c
	paths, outputDir, manifestPath := r.templateSettings()
	if v := r.get("ARTIFACT"); v != "" {
		if len(paths) > 0 {
			return errors.New("TEMPLATE and ARTIFACT are both set: bundle from templates (TEMPLATE, a producer runs) or from artifacts (ARTIFACT, nothing is produced), not both; unset one")
		}
		return r.artifacts(v)
	}
	outputVar := r.prefixed("OUTPUT_DIR")
	if len(paths) > 1 && outputDir != "" {
		return fmt.Errorf("%s is set but TEMPLATE names %d templates: each template needs its own output root; unset %s (each template then writes under <template dir>/.%s/<stem>)", outputVar, len(paths), outputVar, c.Brand.Slug)
	}
	if len(paths) > 1 && manifestPath != "" {
		return fmt.Errorf("BUNDLE_MANIFEST_PATH is set but TEMPLATE names %d templates: unset BUNDLE_MANIFEST_PATH or bundle one template", len(paths))
	}
	seenPath := map[string]bool{}
	usedStem := map[string]bool{}
	var seenFiles []namedFile
	for _, p := range paths {
		if seenPath[p] {
			return fmt.Errorf("TEMPLATE names %s twice: list each template once", p)
		}
		seenPath[p] = true
		// Paths are compared by the file they reach: a link, a hard link or another spelling
		// of one template would run its producer twice.
		if st, err := os.Stat(p); err == nil {
			for _, prev := range seenFiles {
				if os.SameFile(prev.info, st) {
					return fmt.Errorf("TEMPLATE names %s and %s, which are the same file: list each template once", prev.path, p)
				}
			}
			seenFiles = append(seenFiles, namedFile{p, st})
		}
		t := Template{Path: p, Dir: filepath.Dir(p)}
		base := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		// Skip suffixes another template already holds (a.yaml, a.yml, a-2.yaml) so stems,
		// and with them output roots in one directory, stay unique.
		t.Stem = base
		for n := 2; usedStem[t.Stem]; n++ {
			t.Stem = fmt.Sprintf("%s-%d", base, n)
		}
		usedStem[t.Stem] = true
		switch {
		case outputDir != "":
			t.OutputRoot, t.OutputExplicit = r.abs(outputDir), true
		case len(paths) > 1:
			t.OutputRoot, t.OutputExplicit = filepath.Join(t.Dir, "."+c.Brand.Slug, t.Stem), true
		default:
			t.OutputRoot = filepath.Join(t.Dir, "."+c.Brand.Slug)
		}
		t.ManifestPath = ProducerManifestPath(t.OutputRoot, c.Env)
		t.RuntimeConfigDir = ProducerConfigDir(t.OutputRoot, c.Env)
		if manifestPath != "" {
			t.ManifestPath = r.abs(manifestPath)
		}
		c.Templates = append(c.Templates, t)
	}
	return nil
}

// namedFile is a file as a setting named it.
type namedFile struct {
	path string
	info os.FileInfo
}

// templateSettings are the template paths (absolute), the output root and the manifest path
// asked for: the flags of a producer command, else TEMPLATE, <PREFIX>_OUTPUT_DIR and
// BUNDLE_MANIFEST_PATH.
func (r *resolver) templateSettings() (paths []string, outputDir, manifestPath string) {
	if r.flags.Template != "" {
		return []string{r.abs(r.flags.Template)}, r.flags.Output, ""
	}
	for _, p := range strings.Split(r.get("TEMPLATE"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, r.abs(p))
		}
	}
	return paths, r.get(r.prefixed("OUTPUT_DIR")), r.get("BUNDLE_MANIFEST_PATH")
}

// ProducerManifestPath is where the producer writes the manifest for one template.
func ProducerManifestPath(outputRoot, env string) string {
	return filepath.Join(outputRoot, env, "bundle", "manifest.json")
}

// ProducerConfigDir is where the producer writes one template's runtime config (functions.yml,
// routing.yml): the directory "config" of its artifact root <output root>/<env>, as the stack's
// own producer lays it out.
func ProducerConfigDir(outputRoot, env string) string {
	return filepath.Join(outputRoot, env, "config")
}

// RequireTemplates is the check of every stage from Deploy on.
func (c Config) RequireTemplates() error {
	if len(c.Templates) == 0 && len(c.Artifacts) > 0 {
		return fmt.Errorf("ARTIFACT names %s, which list no artifacts: list at least one entry under artifacts", strings.Join(c.Artifacts, ", "))
	}
	if len(c.Templates) == 0 {
		return errors.New("TEMPLATE is not set: set TEMPLATE to the SAM template path (several: TEMPLATE=a.yaml,b.yaml)")
	}
	return nil
}

// CheckFiles reports, all at once, the files the configuration names that are missing: the
// templates (needTemplates: a run from the deploy stage on) and the compose file (needCompose: a
// run through the image stage). A run checks them before its first stage does any work, and a
// dry run reports them too.
func (c Config) CheckFiles(needTemplates, needCompose bool) error {
	var errs []error
	if needTemplates {
		if err := c.RequireTemplates(); err != nil {
			errs = append(errs, err)
		}
		for _, t := range c.Templates {
			if t.Artifact != nil {
				continue // its artifact.yml was read; the Deploy stage validates what it names
			}
			st, err := os.Stat(t.Path)
			switch {
			case err == nil && !st.IsDir():
				if err := userfile.CheckInfo("TEMPLATE names", t.Path, st); err != nil {
					errs = append(errs, err)
				}
			default:
				errs = append(errs, fmt.Errorf("TEMPLATE names %s: no such file: fix TEMPLATE", t.Path))
			}
		}
	}
	if needCompose {
		if err := userfile.Check("COMPOSE_FILE", c.ComposeFile); err != nil {
			errs = append(errs, err)
		} else if st, err := os.Stat(c.ComposeFile); err != nil || st.IsDir() {
			if c.ComposeExplicit {
				errs = append(errs, fmt.Errorf("COMPOSE_FILE=%s: no such file: fix the path or unset COMPOSE_FILE", c.ComposeFile))
			} else {
				errs = append(errs, fmt.Errorf("no compose file: neither %s nor %s exists: create one or set COMPOSE_FILE",
					filepath.Join(c.WorkDir, "docker-compose.docker.yml"), filepath.Join(c.WorkDir, "docker-compose.yml")))
			}
		}
	}
	return errors.Join(errs...)
}

// Layout is BuildDir's layout: every path under it (internal/builddir).
func (c Config) Layout() builddir.Dir { return builddir.Dir(c.BuildDir) }

// EnvMap turns KEY=VALUE entries into a map; later entries win.
func EnvMap(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// overlay returns base with top's entries on top of it.
func overlay(base, top map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		out[k] = v
	}
	return out
}

// readOptionalEnvFile reads an env file that may be absent (nil, nil), with env to inherit and
// interpolate from.
func readOptionalEnvFile(what, path string, env map[string]string) (map[string]string, error) {
	if !exists(path) {
		return nil, nil
	}
	return readEnvFile(what, path, env)
}

// splitCommand splits a command line on white space, honouring single and double quotes.
func splitCommand(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return args, nil
}

func checkName(v string) error {
	if strings.ContainsAny(v, "/\\ \t") || v == "." || v == ".." {
		return errors.New("must not contain slashes or spaces, nor be . or ..")
	}
	return nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
func isDir(p string) bool  { st, err := os.Stat(p); return err == nil && st.IsDir() }
