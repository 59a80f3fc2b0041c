// Package bench is the benchmark harness behind `go run magefile.go bench`: it generates a
// synthetic stack locally (no registry), then measures, in one run on the same images, the seed
// tool's way of bundling (docker CLI: save, copy, classic build) against the mage pipeline —
// full, unchanged and one-image-changed runs, sizes and boots per compression, peak RSS of the
// mage process per stage — then bundles with function images served by the bundle's registry
// (first boots the seed's way, ours, without functions and the upstream's way; the restart; first
// calls of large function images) and writes the table as text, Markdown and JSON.
//
// The pure parts (options, sizes, the layer plan, the generated project files, the report and
// the targets) are table-tested without Docker; the effectful parts only carry the plan out.
// It owns its synthetic stack and its results under BUILD_DIR/bench; it drives the pipeline
// only from outside (the mage binary, as a user would) and must not be imported by shipped
// code.
package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// Defaults of the settings.
const (
	DefaultImages       = 8
	DefaultSize         = 1 << 30 // 1 GiB
	DefaultCompressible = 0.5
	DefaultPrefix       = "bench-"
	// MaxImages bounds BENCH_IMAGES: names are numbered with two digits.
	MaxImages = 99
	// MinSize keeps every layer of the plan at least a few KiB.
	MinSize = 1 << 20
	// DefaultFunctions is BENCH_FUNCTIONS: the function images of the functions bundle.
	DefaultFunctions = 100
	// MaxFunctions bounds BENCH_FUNCTIONS: names are numbered with three digits.
	MaxFunctions = 999
)

// DefaultFunctionSizes are BENCH_FUNCTION_SIZES: the function images whose first call is timed.
var DefaultFunctionSizes = []int64{100 << 20, 1 << 30}

// Options are one benchmark's settings.
type Options struct {
	// BuildDir is BUILD_DIR (absolute); everything the harness writes goes under BuildDir/bench.
	BuildDir string
	// Images is the number of synthetic images (BENCH_IMAGES); the first one runs as the
	// stack's service, the others are loaded but not started.
	Images int
	// Size is the stack's total layer data in bytes (BENCH_SIZE), shared base layer included.
	Size int64
	// Compressible is the fraction of each layer that is repetitive text (BENCH_COMPRESSIBLE);
	// the rest is pseudo-random bytes.
	Compressible float64
	// Compressions are the BUNDLE_COMPRESSION settings measured (BENCH_COMPRESSIONS, comma
	// separated). The unchanged and one-changed runs use DefaultCompression.
	Compressions []string
	// Prefix starts the name of every image, container and volume the harness creates.
	Prefix string
	// BaseImage is the bundles' DIND_BASE_IMAGE, built locally by base.Ensure.
	BaseImage string
	// BootTimeout bounds each boot (first start or restart) of a bundle container.
	BootTimeout time.Duration
	// Engines are the outer engines measured, one whole run each (BENCH_ENGINES, comma
	// separated): matrix.HostEngine (DOCKER_HOST) and names of matrix.Flavours.
	Engines []string
	// Runs is how often the seed's and the default compression's full runs are measured, in
	// turns (BENCH_RUNS); the report gives the median and the spread.
	Runs int
	// Boots is how often each bundle boots (first start and restart, BENCH_BOOTS); the report
	// gives the median and the spread.
	Boots int
	// Functions is the number of function images of the functions bundle (BENCH_FUNCTIONS); 0
	// skips the boots with functions.
	Functions int
	// FunctionSizes are the sizes of the function images whose first call is timed
	// (BENCH_FUNCTION_SIZES, comma separated; "none" skips those calls).
	FunctionSizes []int64
	// FunctionOwn is the own layer of each function image of the functions bundle
	// (BENCH_FUNCTION_OWN): its code and dependencies, on top of the shared base.
	FunctionOwn int64
	// Builds switches to the builds mode (BENCH_BUILDS, 0: off): Deploy alone on Builds Node.js
	// functions with one npm dependency each and as many without (RunBuilds); the other
	// settings but BuildDir, Prefix and Buildkitd are then unused.
	Builds int
	// Buildkitd is a buildkitd binary for the builds mode's one-and-two-builders rows
	// (BENCH_BUILDKITD, else DINDBUNDLER_BUILDKITD as the tests name it); "" skips those rows.
	Buildkitd string
	// BuildkitdEngine is the engine the buildkitd rows deploy into (BENCH_BUILDKITD_ENGINE):
	// matrix.HostEngine ("" too), or a matrix flavour started for those rows (28-containerd).
	BuildkitdEngine string
	// BuildsClassic is how many of the functions with a dependency (and as many without) the
	// classic row builds (BENCH_BUILDS_CLASSIC; 0: all): the classic builder builds one image
	// after the other, so its time for all is that of the sample scaled, said in the row.
	BuildsClassic int
	// BuildsRows are the builds mode's rows to run (BENCH_BUILDS_ROWS, comma separated row IDs
	// of BuildRowSpecs; nil: all); the others stay in the table, marked not selected. A
	// full run takes over an hour, most of it the classic row.
	BuildsRows []string
}

// MaxBoots bounds BENCH_BOOTS and BENCH_RUNS.
const MaxBoots = 9

// FromEnv reads the options from environ (os.Environ's shape); relative paths are taken from
// workDir. It reads nothing else.
func FromEnv(environ []string, workDir string) (Options, error) {
	env := config.EnvMap(environ)
	get := func(k string) string { return strings.TrimSpace(env[k]) }
	o := Options{
		BuildDir: get("BUILD_DIR"), Images: DefaultImages, Size: DefaultSize, Compressible: DefaultCompressible,
		Compressions: []string{string(layerfile.None), string(layerfile.Gzip), string(layerfile.Zstd)},
		Prefix:       DefaultPrefix, BaseImage: base.DefaultTag, BootTimeout: 10 * time.Minute,
		Runs: 1, Boots: 1, Functions: DefaultFunctions, FunctionSizes: slices.Clone(DefaultFunctionSizes), FunctionOwn: FunctionOwnSize,
	}
	engines, err := matrix.Select("BENCH_ENGINES", get("BENCH_ENGINES"))
	if err != nil {
		return Options{}, err
	}
	o.Engines = engines
	for _, r := range []struct {
		key  string
		into *int
	}{{"BENCH_BOOTS", &o.Boots}, {"BENCH_RUNS", &o.Runs}} {
		if v := get(r.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return Options{}, fmt.Errorf("%s=%q: want a whole number of repetitions, e.g. 3", r.key, v)
			}
			*r.into = n
		}
	}
	if o.BuildDir == "" {
		o.BuildDir = config.DefaultBuildDir
	}
	if !filepath.IsAbs(o.BuildDir) {
		o.BuildDir = filepath.Join(workDir, o.BuildDir)
	}
	if v := get("BENCH_IMAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_IMAGES=%q: want a whole number of images, e.g. 8", v)
		}
		o.Images = n
	}
	if v := get("BENCH_SIZE"); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_SIZE: %w", err)
		}
		o.Size = n
	}
	if v := get("BENCH_COMPRESSIBLE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_COMPRESSIBLE=%q: want a fraction between 0 and 1, e.g. 0.5", v)
		}
		o.Compressible = f
	}
	if v := get("BENCH_FUNCTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_FUNCTIONS=%q: want a whole number of function images, e.g. 100 (0 skips the boots with functions)", v)
		}
		o.Functions = n
	}
	if v := get("BENCH_FUNCTION_OWN"); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_FUNCTION_OWN: %w", err)
		}
		o.FunctionOwn = n
	}
	if v := get("BENCH_FUNCTION_SIZES"); v != "" {
		o.FunctionSizes = nil
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" || strings.EqualFold(part, "none") {
				continue
			}
			n, err := ParseSize(part)
			if err != nil {
				return Options{}, fmt.Errorf("BENCH_FUNCTION_SIZES: %w (or none to skip the first calls)", err)
			}
			o.FunctionSizes = append(o.FunctionSizes, n)
		}
	}
	if v := get("BENCH_BUILDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_BUILDS=%q: want a whole number of Node.js functions with a dependency, e.g. 60 (0: the ordinary benchmark)", v)
		}
		o.Builds = n
	}
	if v := get("BENCH_BUILDS_CLASSIC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Options{}, fmt.Errorf("BENCH_BUILDS_CLASSIC=%q: want a whole number of functions with a dependency, e.g. 10 (0: all of BENCH_BUILDS)", v)
		}
		o.BuildsClassic = n
	}
	if v := get("BENCH_BUILDS_ROWS"); v != "" {
		o.BuildsRows = []string{}
		for _, r := range strings.Split(v, ",") {
			if r = strings.ToLower(strings.TrimSpace(r)); r != "" {
				o.BuildsRows = append(o.BuildsRows, r)
			}
		}
	}
	o.Buildkitd = get("BENCH_BUILDKITD")
	o.BuildkitdEngine = strings.TrimSpace(get("BENCH_BUILDKITD_ENGINE"))
	if o.Buildkitd == "" {
		o.Buildkitd = get("DINDBUNDLER_BUILDKITD")
	}
	if v := get("BENCH_PREFIX"); v != "" {
		o.Prefix = v
	}
	if v := get("BENCH_COMPRESSIONS"); v != "" {
		o.Compressions = nil
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
				o.Compressions = append(o.Compressions, c)
			}
		}
	}
	return o, o.Validate()
}

// Validate checks the options and says how to fix them.
func (o Options) Validate() error {
	if o.Images < 1 || o.Images > MaxImages {
		return fmt.Errorf("BENCH_IMAGES=%d: use 1 to %d images", o.Images, MaxImages)
	}
	if o.Boots < 1 || o.Boots > MaxBoots {
		return fmt.Errorf("BENCH_BOOTS=%d: use 1 to %d boots per bundle", o.Boots, MaxBoots)
	}
	if o.Runs < 1 || o.Runs > MaxBoots {
		return fmt.Errorf("BENCH_RUNS=%d: use 1 to %d full runs", o.Runs, MaxBoots)
	}
	if len(o.Engines) == 0 {
		return fmt.Errorf("BENCH_ENGINES is empty: name at least one engine, e.g. host")
	}
	for _, e := range o.Engines {
		if _, ok := matrix.Lookup(e); !ok && e != matrix.HostEngine {
			return fmt.Errorf("BENCH_ENGINES: unknown engine %q", e)
		}
	}
	if o.Builds < 0 || o.Builds > MaxBuilds() {
		return fmt.Errorf("BENCH_BUILDS=%d: use 0 (off) to %d Node.js functions with a dependency", o.Builds, MaxBuilds())
	}
	if o.BuildsClassic < 0 || o.BuildsClassic > o.Builds {
		return fmt.Errorf("BENCH_BUILDS_CLASSIC=%d: use 0 (all) to BENCH_BUILDS=%d", o.BuildsClassic, o.Builds)
	}
	if _, ok := matrix.Lookup(o.BuildkitdEngine); !ok && o.BuildkitdEngine != "" && o.BuildkitdEngine != matrix.HostEngine {
		return fmt.Errorf("BENCH_BUILDKITD_ENGINE=%q: use %s or one of %s", o.BuildkitdEngine, matrix.HostEngine, flavourNames())
	}
	if err := o.validateBuildsRows(); err != nil {
		return err
	}
	if o.Functions < 0 || o.Functions > MaxFunctions {
		return fmt.Errorf("BENCH_FUNCTIONS=%d: use 0 (skip) to %d function images", o.Functions, MaxFunctions)
	}
	seenSize := map[int64]bool{}
	for _, n := range o.FunctionSizes {
		if n < MinSize {
			return fmt.Errorf("BENCH_FUNCTION_SIZES: %s is too small: use at least 1MiB", FormatBytes(n))
		}
		if seenSize[n] {
			return fmt.Errorf("BENCH_FUNCTION_SIZES names %s twice: list each size once", FormatBytes(n))
		}
		seenSize[n] = true
	}
	if o.Size < MinSize {
		return fmt.Errorf("BENCH_SIZE=%d bytes: use at least 1MiB", o.Size)
	}
	if math.IsNaN(o.Compressible) || o.Compressible < 0 || o.Compressible > 1 {
		return fmt.Errorf("BENCH_COMPRESSIBLE=%v: use a fraction between 0 and 1", o.Compressible)
	}
	if len(o.Compressions) == 0 {
		return fmt.Errorf("BENCH_COMPRESSIONS is empty: name at least one of none, gzip, zstd")
	}
	seen := map[string]bool{}
	for _, c := range o.Compressions {
		if _, ok := layerfile.Parse(c); !ok {
			return fmt.Errorf("BENCH_COMPRESSIONS: %q is not a compression: use none, gzip or zstd", c)
		}
		if seen[c] {
			return fmt.Errorf("BENCH_COMPRESSIONS names %s twice: list each setting once", c)
		}
		seen[c] = true
	}
	if o.Prefix == "" || o.Prefix != strings.ToLower(o.Prefix) || strings.ContainsAny(o.Prefix, " /:") {
		return fmt.Errorf("prefix %q: use lower-case letters, digits and dashes", o.Prefix)
	}
	if o.BuildDir == "" || !filepath.IsAbs(o.BuildDir) {
		return fmt.Errorf("build directory %q must be an absolute path", o.BuildDir)
	}
	return nil
}

// DefaultCompression is the setting of the unchanged and one-changed runs: the pipeline's own
// default when it is measured, else the last one listed.
func (o Options) DefaultCompression() string {
	for _, c := range o.Compressions {
		if c == string(config.DefaultCompression) {
			return c
		}
	}
	return o.Compressions[len(o.Compressions)-1]
}

// RunOrder is Compressions with the default last, so the unchanged and one-changed runs follow
// the default's full run and reuse its build directory and bundle image.
func (o Options) RunOrder() []string {
	d := o.DefaultCompression()
	order := make([]string, 0, len(o.Compressions))
	for _, c := range o.Compressions {
		if c != d {
			order = append(order, c)
		}
	}
	return append(order, d)
}

// Dir is where the harness writes: BuildDir/bench.
func (o Options) Dir() string { return builddir.Dir(o.BuildDir).Bench() }

// units of ParseSize: binary (KiB, K) and decimal (KB) multiples.
var units = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first, so "MiB" is not read as "B" after "Mi".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize reads a byte count: a number with an optional unit, e.g. 1GiB, 64MiB, 1.5G, 500MB,
// 4096. K/M/G/T and KiB/MiB/GiB/TiB are binary; KB/MB/GB/TB decimal; case does not matter.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit, e.g. 64MiB or 1GiB", s)
	}
	n := f * mult
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(math.Round(n)), nil
}

// FormatBytes renders a byte count for people: binary units, three significant digits.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3g %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// BuildsRow says whether the builds mode runs row id (BuildsRows).
func (o Options) BuildsRow(id string) bool {
	return o.BuildsRows == nil || slices.Contains(o.BuildsRows, id)
}

// validateBuildsRows checks BuildsRows: known IDs, each once, and the rows a selected row
// needs: the dependency change and the restored cache start from the BuildKit cold run's
// build directory and cache.
func (o Options) validateBuildsRows() error {
	if o.BuildsRows == nil {
		return nil
	}
	var ids []string
	for _, spec := range BuildRowSpecs(o.Builds) {
		ids = append(ids, spec.ID)
	}
	if len(o.BuildsRows) == 0 {
		return fmt.Errorf("BENCH_BUILDS_ROWS names no row: name some of %s, or unset it for all", strings.Join(ids, ","))
	}
	seen := map[string]bool{}
	for _, r := range o.BuildsRows {
		if !slices.Contains(ids, r) {
			return fmt.Errorf("BENCH_BUILDS_ROWS: unknown row %q: use %s", r, strings.Join(ids, ","))
		}
		if seen[r] {
			return fmt.Errorf("BENCH_BUILDS_ROWS names %s twice: list each row once", r)
		}
		seen[r] = true
	}
	for _, r := range []string{BuildKitOneDep, BuildKitRestored} {
		if seen[r] && !seen[BuildKitCold] {
			return fmt.Errorf("BENCH_BUILDS_ROWS: %s starts from %s's build directory and cache: add %s", r, BuildKitCold, BuildKitCold)
		}
	}
	if (seen[BuildkitdOne] || seen[BuildkitdTwo]) && o.Buildkitd == "" {
		return fmt.Errorf("BENCH_BUILDS_ROWS names a buildkitd row: name a buildkitd binary in BENCH_BUILDKITD (or DINDBUNDLER_BUILDKITD)")
	}
	return nil
}

func flavourNames() string {
	var names []string
	for _, f := range matrix.Flavours {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}
