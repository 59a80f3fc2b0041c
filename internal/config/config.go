// Package config resolves the bundler's configuration once, from environment variables, the
// project's .env and the brand defaults file, into one typed struct that every stage reads and a
// dry run prints.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Defaults that are not derived from the brand.
const (
	DefaultDefaultsFile  = "config/defaults.env"
	DefaultBuildDir      = "build"
	DefaultConfigDir     = "config"
	DefaultDindBaseImage = "docker:28.5-dind"
	DefaultRunID         = 1000
)

// Compression settings of the bundled image layers. zstd is the default because it measured
// smallest and fastest to build and boot on the benchmark (README, Performance).
const (
	DefaultCompression = CompressionZstd

	CompressionNone = "none"
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
)

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
}

// Config is the whole resolved configuration.
type Config struct {
	WorkDir      string
	DefaultsFile string
	Brand        Brand

	Env       string
	EnvSource string // where Env came from, for the dry run

	Templates []Template // empty when TEMPLATE is unset; RequireTemplates says what to do

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
	RunUID          int
	RunGID          int
	Compression     string

	// Read by the embedded producer.
	ParameterOverrides string
	Project            string
	ImagePrefix        string
	ImageTag           string
	RuntimeBases       map[string]string // RUNTIME_BASE_<RUNTIME> values, keyed by variable suffix
	Vars               map[string]string // .env overlaid by the environment: compose interpolation

	Force   bool
	DryRun  bool
	Verbose bool
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
	env := EnvMap(environ)
	get := func(k string) string { return strings.TrimSpace(env[k]) }
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(workDir, p)
	}
	c := Config{WorkDir: workDir}

	c.DefaultsFile = abs(orDefault(get("DEFAULTS_FILE"), DefaultDefaultsFile))
	defaults, err := readOptionalEnvFile(c.DefaultsFile)
	if err != nil {
		return Config{}, err
	}
	// A DEFAULTS_FILE the user names must exist: a typo would otherwise build the esb brand.
	if defaults == nil && get("DEFAULTS_FILE") != "" {
		return Config{}, fmt.Errorf("DEFAULTS_FILE=%s: file not found: fix the path or unset DEFAULTS_FILE", c.DefaultsFile)
	}
	c.Brand.CLICmd = orDefault(defaults["CLI_CMD"], "esb")
	c.Brand.Slug = strings.ToLower(c.Brand.CLICmd)
	c.Brand.EnvPrefix = orDefault(defaults["ENV_PREFIX"], "ESB")
	prefixed := func(name string) string { return c.Brand.EnvPrefix + "_" + name }

	c.DotEnvPath = filepath.Join(workDir, ".env")
	if c.DotEnv, err = readOptionalEnvFile(c.DotEnvPath); err != nil {
		return Config{}, err
	}
	// Variables the environment sets win over the same ones in .env.
	envOrDotEnv := func(k string) (string, string) {
		if v := get(k); v != "" {
			return v, "environment " + k
		}
		if v := c.DotEnv[k]; v != "" {
			return v, ".env " + k
		}
		return "", ""
	}

	switch v := get(prefixed("ENV")); {
	case v != "":
		c.Env, c.EnvSource = v, "environment "+prefixed("ENV")
	case c.DotEnv["ENV"] != "":
		c.Env, c.EnvSource = c.DotEnv["ENV"], ".env ENV"
	default:
		c.Env, c.EnvSource = "default", "default"
	}
	if err := checkName("environment name", c.Env); err != nil {
		return Config{}, err
	}

	c.BundleTag = orDefault(get("BUNDLE_TAG"), c.Brand.Slug+"-dind-bundle:latest")
	c.CertDir = abs(orDefault(get("CERT_DIR"), filepath.Join("."+c.Brand.Slug, "certs")))
	c.CertTarget = "/root/." + c.Brand.Slug + "/certs"
	if p := get("PRODUCER"); p != "" {
		if c.Producer, err = splitCommand(p); err != nil {
			return Config{}, fmt.Errorf("PRODUCER: %w", err)
		}
	}
	if cf := get("COMPOSE_FILE"); cf != "" {
		c.ComposeFile, c.ComposeExplicit = abs(cf), true
	} else if exists(filepath.Join(workDir, "docker-compose.docker.yml")) {
		c.ComposeFile = filepath.Join(workDir, "docker-compose.docker.yml")
	} else {
		c.ComposeFile = filepath.Join(workDir, "docker-compose.yml")
	}
	if dir := abs(orDefault(get("CONFIG_DIR"), DefaultConfigDir)); isDir(dir) {
		c.ConfigDir = dir
	} else if get("CONFIG_DIR") != "" {
		// A typo must not ship an empty /app/config (as with COMPOSE_FILE and DEFAULTS_FILE).
		return Config{}, fmt.Errorf("CONFIG_DIR=%s: directory not found: fix the path or unset CONFIG_DIR", dir)
	}
	if v := get("PROJECT_ROOT"); v != "" {
		c.ProjectRoot = abs(v)
	}
	c.DindBaseImage = orDefault(get("DIND_BASE_IMAGE"), DefaultDindBaseImage)
	c.BuildDir = abs(orDefault(get("BUILD_DIR"), DefaultBuildDir))
	c.Force = truthy(get("FORCE"))
	c.DryRun = truthy(get("DRYRUN")) || truthy(get("DIND_BUNDLER_DRYRUN"))
	c.Verbose = truthy(get("MAGEFILE_VERBOSE"))

	for _, id := range []struct {
		name string
		dst  *int
	}{{"RUN_UID", &c.RunUID}, {"RUN_GID", &c.RunGID}} {
		*id.dst = DefaultRunID
		if v, src := envOrDotEnv(id.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return Config{}, fmt.Errorf("%s=%q (from %s) is not a numeric id: set it to a uid/gid such as 1000", id.name, v, src)
			}
			*id.dst = n
		}
	}

	c.Compression = orDefault(get("BUNDLE_COMPRESSION"), DefaultCompression)
	switch c.Compression {
	case CompressionNone, CompressionGzip, CompressionZstd:
	default:
		return Config{}, fmt.Errorf("BUNDLE_COMPRESSION=%q: use none, gzip or zstd", c.Compression)
	}

	c.ParameterOverrides = get("PARAMETER_OVERRIDES")
	// docker compose accepts only lower-case project names.
	c.Project = orDefault(get("PROJECT_NAME"), strings.ToLower(c.Brand.Slug+"-"+c.Env))
	c.ImagePrefix = orDefault(get("IMAGE_PREFIX"), c.Brand.Slug)
	c.ImageTag = orDefault(get("IMAGE_TAG"), "latest")
	c.Vars = overlay(c.DotEnv, env)
	c.RuntimeBases = map[string]string{}
	for k, v := range c.Vars {
		if suffix, ok := strings.CutPrefix(k, "RUNTIME_BASE_"); ok && v != "" {
			c.RuntimeBases[suffix] = v
		}
	}

	if err := c.resolveTemplates(get("TEMPLATE"), get(prefixed("OUTPUT_DIR")), get("BUNDLE_MANIFEST_PATH"), abs); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) resolveTemplates(list, outputDir, manifestPath string, abs func(string) string) error {
	prefixed := c.Brand.EnvPrefix + "_OUTPUT_DIR"
	var paths []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, abs(p))
		}
	}
	if len(paths) > 1 && outputDir != "" {
		return fmt.Errorf("%s is set but TEMPLATE names %d templates: each template needs its own output root; unset %s (each template then writes under <template dir>/.%s/<stem>)", prefixed, len(paths), prefixed, c.Brand.Slug)
	}
	if len(paths) > 1 && manifestPath != "" {
		return fmt.Errorf("BUNDLE_MANIFEST_PATH is set but TEMPLATE names %d templates: unset BUNDLE_MANIFEST_PATH or bundle one template", len(paths))
	}
	seenPath := map[string]bool{}
	usedStem := map[string]bool{}
	for _, p := range paths {
		if seenPath[p] {
			return fmt.Errorf("TEMPLATE names %s twice: list each template once", p)
		}
		seenPath[p] = true
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
			t.OutputRoot, t.OutputExplicit = abs(outputDir), true
		case len(paths) > 1:
			t.OutputRoot, t.OutputExplicit = filepath.Join(t.Dir, "."+c.Brand.Slug, t.Stem), true
		default:
			t.OutputRoot = filepath.Join(t.Dir, "."+c.Brand.Slug)
		}
		t.ManifestPath = ProducerManifestPath(t.OutputRoot, c.Env)
		if manifestPath != "" {
			t.ManifestPath = abs(manifestPath)
		}
		c.Templates = append(c.Templates, t)
	}
	return nil
}

// ProducerManifestPath is where the producer writes the manifest for one template.
func ProducerManifestPath(outputRoot, env string) string {
	return filepath.Join(outputRoot, env, "bundle", "manifest.json")
}

// RequireTemplates is the check of every stage from Deploy on.
func (c Config) RequireTemplates() error {
	if len(c.Templates) == 0 {
		return errors.New("TEMPLATE is not set: set TEMPLATE to the SAM template path (several: TEMPLATE=a.yaml,b.yaml)")
	}
	return nil
}

// Paths of the build outputs under BuildDir.
func (c Config) MergedManifestPath() string {
	return filepath.Join(c.BuildDir, "bundle", "manifest.json")
}
func (c Config) StateDir() string { return filepath.Join(c.BuildDir, "state") }

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

// ReadEnvFile parses KEY=VALUE lines: blank lines and # comments skipped, an optional `export `,
// values optionally in single or double quotes.
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	vars, err := ParseEnv(string(data))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return vars, nil
}

// ParseEnv parses the text of an env file (see ReadEnvFile).
func ParseEnv(text string) (map[string]string, error) {
	vars := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", i+1, line)
		}
		v = strings.TrimSpace(v)
		if q, ok := unquote(v); ok {
			v = q
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		vars[k] = v
	}
	return vars, nil
}

// unquote returns what is inside the quotes of a single- or double-quoted value, which may be
// followed by a ` #` comment (A="x # y" # note is `x # y`).
func unquote(v string) (string, bool) {
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') {
		return "", false
	}
	if v[len(v)-1] == v[0] {
		return v[1 : len(v)-1], true
	}
	if i := strings.Index(v[1:], v[:1]+" #"); i >= 0 {
		return v[1 : 1+i], true
	}
	return "", false
}

func readOptionalEnvFile(path string) (map[string]string, error) {
	if !exists(path) {
		return nil, nil
	}
	return ReadEnvFile(path)
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

func checkName(what, v string) error {
	if strings.ContainsAny(v, "/\\ \t") || v == "." || v == ".." {
		return fmt.Errorf("%s %q must not contain slashes or spaces", what, v)
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

// sortedKeys is used by the plan printer for stable output.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
