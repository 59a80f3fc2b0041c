package embedded

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
	"github.com/dindbundler/dindbundler/producer/builders"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/distribution/reference"
)

// Manifest sources of the images the producer records.
const (
	SourceSAM      = "sam"      // function images, and the prebuilt ImageUri they are built from
	SourceInternal = "internal" // compose services built from the project's sources
	SourceCompose  = "compose"  // compose services that run a prebuilt image
	SourceRuntime  = "runtime"  // base images of Zip function runtimes
)

// Kinds of the entries of a build context.
const (
	EntryDir  = "dir"  // a directory's contents, recursively
	EntryFile = "file" // one file
	EntryZip  = "zip"  // a .zip or .jar archive, extracted (Lambda unpacks the package)
	EntryText = "text" // generated content
)

// ContextEntry is one part of a build context: where it comes from and where it goes.
type ContextEntry struct {
	Kind   string
	Source string // absolute path on disk; "" for EntryText
	Target string // slash path inside the context; "" is the context root
	Text   string // the content of an EntryText
	// DockerIgnore applies Source/.dockerignore to an EntryDir, as `docker build` does.
	DockerIgnore bool
	// Exclude lists absolute paths an EntryDir leaves out: the producer's own output directory,
	// which a CodeUri or build context of "." would otherwise carry into the image.
	Exclude []string
	// ExcludeNames are name patterns (path.Match) an EntryDir of code or a layer leaves out at
	// every depth, as `sam build` does when it copies code (builders.ExcludedFiles: .git,
	// .aws-sam, the Python workflows' caches…): a CodeUri of ./ must not carry the repository.
	ExcludeNames []string
}

// ImageBuild is one image to build.
type ImageBuild struct {
	Name   string // repo:tag given to the image
	Kind   string // manifest.KindFunction or manifest.KindService
	Source string // SourceSAM or SourceInternal
	For    string // the function or service name
	// Dockerfile is the Dockerfile's path inside the context.
	Dockerfile string
	// DockerfileText is the generated Dockerfile, stored at Dockerfile in the context; "" when
	// the context holds the user's own.
	DockerfileText string
	// DockerfileTextBuildKit is DockerfileText for BuildKit, when it differs: its builders' steps
	// mount their caches (RUN --mount=type=cache), which the classic builder cannot parse.
	DockerfileTextBuildKit string
	// DockerfileAppend are instructions added at the end of the user's own Dockerfile (the
	// Environment and ImageConfig of an Image function, which Lambda applies over the image).
	DockerfileAppend string
	Context          []ContextEntry
	Labels           map[string]string
	BuildArgs        map[string]string
	Target           string
	Platform         string // "os/arch" to build for; "" lets the engine choose
	// Builders names the build stages' builders (builders.go), for failure messages.
	Builders string
	// From are the images a generated Dockerfile starts from (the runtime base, the builders'
	// images, an ImageUri), sorted: their IDs are inputs of the image (imagefresh.go). A user's
	// Dockerfile is an input as a file.
	From []string
}

// BaseImage is an image function images are built FROM that must exist locally (or be pulled)
// before the build.
type BaseImage struct {
	Name      string
	Source    string   // SourceRuntime, or SourceSAM for a function's ImageUri
	Functions []string // the functions built on it, sorted
	// Variables are the RUNTIME_BASE_<RUNTIME> variables that select it, sorted; none for an
	// ImageUri.
	Variables []string
	// Hint says what to do when the image is neither local nor pullable.
	Hint string
}

// ExternalImage is a prebuilt image a compose service runs; the Pull stage fetches it.
type ExternalImage struct {
	Name     string
	Services []string // sorted
}

// BuildPlan is everything one producer run builds and records.
type BuildPlan struct {
	Images   []ImageBuild    // sorted by Name
	Bases    []BaseImage     // sorted by Name
	External []ExternalImage // sorted by Name
	Warnings []string        // things worth telling the user that do not stop the build
	// Runtime is the stack's runtime config of the template's functions (RuntimeConfig).
	Runtime runtimeconfig.Config
	// Variables are the stack's variables the compose file's images and builds read, sorted.
	Variables []string
	// Resources are the template's tables, buckets and layers for the stack's provisioner
	// (ResourcesOf); written as resources.yml beside the runtime config when not empty.
	Resources runtimeconfig.Resources
}

// Where Lambda puts a function's code and its layers' content.
const (
	taskDir = "/var/task"
	optDir  = "/opt"
)

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Plan computes what to build for template t and compose file c (nil when the stack has none).
// It reads neither the disk nor the engine.
func Plan(t *sam.Template, c *compose.File, req Request) (BuildPlan, error) {
	if err := req.check(); err != nil {
		return BuildPlan{}, err
	}
	p := planner{req: req, bases: map[string]*BaseImage{}, built: map[string]string{}}
	if t != nil {
		p.plan.Warnings = append(p.plan.Warnings, t.Warnings...)
		for _, fn := range t.Functions {
			if err := p.function(fn); err != nil {
				return BuildPlan{}, err
			}
		}
	}
	if c != nil {
		if err := p.services(c); err != nil {
			return BuildPlan{}, err
		}
	}
	var warnings []string
	p.plan.Runtime, warnings = RuntimeConfig(t, functionImages(p.plan))
	p.plan.Resources = ResourcesOf(t)
	p.plan.Warnings = append(p.plan.Warnings, warnings...)
	sort.Slice(p.plan.Images, func(i, j int) bool { return p.plan.Images[i].Name < p.plan.Images[j].Name })
	for _, b := range p.bases {
		sort.Strings(b.Functions)
		sort.Strings(b.Variables)
		b.Hint = baseHint(*b)
		p.plan.Bases = append(p.plan.Bases, *b)
	}
	sort.Slice(p.plan.Bases, func(i, j int) bool { return p.plan.Bases[i].Name < p.plan.Bases[j].Name })
	return p.plan, nil
}

type planner struct {
	req   Request
	plan  BuildPlan
	bases map[string]*BaseImage
	built map[string]string // image name → what builds it, to refuse two builds of one name
}

func (p *planner) label(key string) string { return "com." + p.req.Brand + "." + key }

func (p *planner) addBuild(b ImageBuild) error {
	if prev, ok := p.built[b.Name]; ok {
		return fmt.Errorf("%s and %s %s would both build image %s: give them distinct names", prev, b.Kind, b.For, b.Name)
	}
	p.built[b.Name] = b.Kind + " " + b.For
	p.plan.Images = append(p.plan.Images, b)
	return nil
}

func (p *planner) addBase(name, source, runtime, fn string) {
	b, ok := p.bases[name]
	if !ok {
		b = &BaseImage{Name: name, Source: source}
		p.bases[name] = b
	}
	if runtime != "" && !slices.Contains(b.Variables, RuntimeVariable(runtime)) {
		b.Variables = append(b.Variables, RuntimeVariable(runtime))
	}
	b.Functions = append(b.Functions, fn)
}

func baseHint(b BaseImage) string {
	fns := strings.Join(b.Functions, ", ")
	if len(b.Variables) > 0 {
		return fmt.Sprintf("set %s to a local image that runs the runtime (used by %s)", strings.Join(b.Variables, " / "), fns)
	}
	return fmt.Sprintf("build or load %s locally, or make its registry reachable (ImageUri of %s)", b.Name, fns)
}

// functionImageName is <prefix>-<function name lower case>:<tag>, under the registry the stack
// pulls it from (<registry>/…) when CONTAINER_REGISTRY names one.
func (p *planner) functionImageName(fn sam.Function) (string, error) {
	name := fmt.Sprintf("%s-%s:%s", p.req.ImagePrefix, strings.ToLower(fn.Name), p.req.ImageTag)
	if p.req.ContainerRegistry != "" {
		name = p.req.ContainerRegistry + "/" + name
	}
	if _, err := reference.ParseNormalizedNamed(name); err != nil {
		return "", fmt.Errorf("function %s: image name %q is not a valid image reference (%v): check CONTAINER_REGISTRY, IMAGE_PREFIX, IMAGE_TAG and the FunctionName", fn.Name, name, err)
	}
	return name, nil
}

func platformOf(fn sam.Function) string {
	if fn.Architecture == "arm64" {
		return "linux/arm64"
	}
	return "linux/amd64"
}

func (p *planner) function(fn sam.Function) error {
	if err := dockerfileValues(fn); err != nil {
		return err
	}
	name, err := p.functionImageName(fn)
	if err != nil {
		return err
	}
	b := ImageBuild{
		Name: name, Kind: manifest.KindFunction, Source: SourceSAM, For: fn.Name,
		Labels:   map[string]string{p.label("kind"): manifest.KindFunction, p.label("function"): fn.Name},
		Platform: platformOf(fn),
	}
	switch fn.PackageType {
	case sam.PackageImage:
		err = p.imageFunction(fn, &b)
	case sam.PackageZip, "":
		err = p.zipFunction(fn, &b)
	default:
		err = fmt.Errorf("function %s: PackageType %q is not Zip or Image", fn.Name, fn.PackageType)
	}
	if err != nil {
		return err
	}
	return p.addBuild(b)
}

// dockerfileValues refuses a template value that a generated Dockerfile line carries when it
// holds a control character: a newline would start an instruction of its own. The error names
// the resource and the property. (Environment values are checked where their ENV lines are
// written; Handler and ImageConfig commands are written as JSON.)
func dockerfileValues(fn sam.Function) error {
	resource := cmp.Or(fn.LogicalID, fn.Name)
	for _, v := range []struct{ property, value string }{
		{"ImageUri", fn.ImageURI}, {"Runtime", fn.Runtime}, {"Handler", fn.Handler},
		{"ImageConfig.WorkingDirectory", fn.ImageWorkingDirectory}, {"FunctionName", fn.Name},
	} {
		if i := strings.IndexFunc(v.value, unicode.IsControl); i >= 0 {
			return fmt.Errorf("resource %s: property %s holds a control character (%U at byte %d), which a generated Dockerfile line cannot carry: remove it from the template", resource, v.property, []rune(v.value[i:])[0], i)
		}
	}
	if fn.ImageURI != "" {
		if _, err := reference.ParseNormalizedNamed(fn.ImageURI); err != nil {
			return fmt.Errorf("resource %s: property ImageUri %q is not an image reference (%v): use registry/repository:tag or @sha256:digest", resource, fn.ImageURI, err)
		}
	}
	return nil
}

func (p *planner) imageFunction(fn sam.Function, b *ImageBuild) error {
	if fn.ImageURI != "" {
		// A prebuilt image: a one-line build gives it the name and labels of the naming rule.
		p.addBase(fn.ImageURI, SourceSAM, "", fn.Name)
		b.Dockerfile = "Dockerfile"
		b.DockerfileText = fmt.Sprintf("# Generated for function %s: its prebuilt ImageUri under the bundle's name.\nFROM %s\n", fn.Name, fn.ImageURI)
		b.From = []string{fn.ImageURI}
		return nil
	}
	if fn.DockerContext == "" {
		return fmt.Errorf("function %s: an Image function needs ImageUri or Metadata.DockerContext and Metadata.Dockerfile", fn.Name)
	}
	df := fn.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if filepath.IsAbs(df) {
		if rel, err := filepath.Rel(fn.DockerContext, df); err == nil {
			df = rel
		}
	}
	df = filepath.ToSlash(filepath.Clean(df))
	if filepath.IsAbs(df) || df == ".." || strings.HasPrefix(df, "../") {
		return fmt.Errorf("function %s: Metadata.Dockerfile %q must lie inside Metadata.DockerContext %s", fn.Name, fn.Dockerfile, fn.DockerContext)
	}
	b.Dockerfile = df
	b.Context = []ContextEntry{p.dirEntry(fn.DockerContext, "", true)}
	b.BuildArgs = copyMap(fn.DockerBuildArgs)
	appendix, err := imageSettings(fn)
	if err != nil {
		return err
	}
	b.DockerfileAppend = appendix
	return nil
}

// imageSettings are the Dockerfile instructions that give an Image function's image what Lambda
// applies over it: Environment.Variables, then ImageConfig (WorkingDirectory, EntryPoint,
// Command). Two functions built from one Dockerfile then differ as they do in AWS.
func imageSettings(fn sam.Function) (string, error) {
	var b strings.Builder
	if err := writeEnv(&b, fn); err != nil {
		return "", err
	}
	if fn.ImageWorkingDirectory != "" {
		if strings.ContainsAny(fn.ImageWorkingDirectory, "\r\n") {
			return "", fmt.Errorf("function %s: ImageConfig.WorkingDirectory contains a line break", fn.Name)
		}
		fmt.Fprintf(&b, "WORKDIR %s\n", fn.ImageWorkingDirectory)
	}
	for _, in := range []struct {
		name string
		args []string
	}{{"ENTRYPOINT", fn.ImageEntryPoint}, {"CMD", fn.ImageCommand}} {
		if in.args == nil {
			continue
		}
		line, err := execForm(in.args...)
		if err != nil {
			return "", fmt.Errorf("function %s: ImageConfig: %w", fn.Name, err)
		}
		fmt.Fprintf(&b, "%s %s\n", in.name, line)
	}
	if b.Len() == 0 {
		return "", nil
	}
	return fmt.Sprintf("# Added for function %s: its Environment and ImageConfig, as Lambda applies them.\n", fn.Name) + b.String(), nil
}

// writeEnv writes one ENV line per environment variable of fn, sorted.
func writeEnv(b *strings.Builder, fn sam.Function) error {
	for _, k := range slices.Sorted(maps.Keys(fn.Environment)) {
		line, err := envInstruction(k, fn.Environment[k])
		if err != nil {
			return fmt.Errorf("function %s: Environment.Variables.%s: %w", fn.Name, k, err)
		}
		b.WriteString(line)
	}
	return nil
}

func (p *planner) dirEntry(src, target string, dockerIgnore bool) ContextEntry {
	e := ContextEntry{Kind: EntryDir, Source: src, Target: target, DockerIgnore: dockerIgnore}
	for _, out := range append([]string{p.req.OutputRoot}, p.req.Exclude...) {
		if out != "" && within(out, src) {
			e.Exclude = append(e.Exclude, out)
		}
	}
	return e
}

// within reports whether path lies inside dir (or is dir).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// archiveOrDir says how a code or layer path enters the context: archives are extracted, as
// Lambda does with the deployment package.
func archiveOrDir(p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".zip", ".jar":
		return EntryZip
	}
	return EntryDir
}

func (p *planner) zipFunction(fn sam.Function, b *ImageBuild) error {
	if fn.Runtime == "" {
		return fmt.Errorf("function %s: a Zip function needs a Runtime", fn.Name)
	}
	if fn.Handler == "" {
		return fmt.Errorf("function %s: a Zip function needs a Handler", fn.Name)
	}
	base, err := runtimeBase(fn.Runtime, fn.Architecture, p.req)
	if err != nil {
		return fmt.Errorf("function %s: %w", fn.Name, err)
	}
	if _, err := reference.ParseNormalizedNamed(base); err != nil {
		// The value may come from .env: name the variable, never print the value.
		return fmt.Errorf("resource %s: the base image of runtime %s is not an image reference: fix %s (environment or .env)", cmp.Or(fn.LogicalID, fn.Name), fn.Runtime, RuntimeVariable(fn.Runtime))
	}
	p.addBase(base, SourceRuntime, fn.Runtime, fn.Name)
	bs, err := p.planBuilds(fn) // builders.go: build stages of the code and layers
	if err != nil {
		return err
	}

	var df strings.Builder
	fmt.Fprintf(&df, "# Generated for function %s (%s): code in %s, layers in %s, as Lambda lays them out.\n", fn.Name, fn.Runtime, taskDir, optDir)
	header := df.String()
	df.Reset()
	fmt.Fprintf(&df, "FROM %s\n", base)
	// Layers first: they change less often than the code, so their build steps stay cached.
	for i, l := range fn.Layers {
		if l.ContentURI == "" {
			return fmt.Errorf("function %s: layer %s has no local content (ContentUri, or LAYER_MAP for a published layer)", fn.Name, LayerLabel(l))
		}
		if len(l.CompatibleRuntimes) > 0 && !slices.Contains(l.CompatibleRuntimes, fn.Runtime) {
			p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf("function %s (%s) uses layer %s, whose CompatibleRuntimes (%s) do not list it; Lambda would refuse this", fn.Name, fn.Runtime, LayerLabel(l), strings.Join(l.CompatibleRuntimes, ", ")))
		}
		target := fmt.Sprintf("layers/%d", i+1)
		// A layer sam build does not build (no BuildMethod) is packaged as it is: only the
		// repository's history and the build output are left out of it.
		layerRuntime := fn.Runtime
		if l.BuildMethod == "" {
			layerRuntime = ""
		}
		b.Context = append(b.Context, p.codeEntry(l.ContentURI, archiveOrDir(l.ContentURI), target, layerRuntime, l.BuildMethod))
		df.WriteString(bs.copy(target, optDir))
	}

	switch fn.CodeKind {
	case sam.CodeDir, "":
		if fn.CodeURI == "" {
			return fmt.Errorf("function %s: a Zip function needs CodeUri or InlineCode", fn.Name)
		}
		b.Context = append(b.Context, p.codeEntry(fn.CodeURI, EntryDir, "task", fn.Runtime, fn.BuildMethod))
	case sam.CodeZip, sam.CodeJar:
		b.Context = append(b.Context, p.codeEntry(fn.CodeURI, EntryZip, "task", fn.Runtime, fn.BuildMethod))
	case sam.CodeFile:
		// The file alone is the package, at its root (sam package zips it that way).
		b.Context = append(b.Context, ContextEntry{Kind: EntryFile, Source: fn.CodeURI, Target: "task/" + filepath.Base(fn.CodeURI)})
	case sam.CodeInline:
		file, ok := inlineFile(fn.Runtime)
		if !ok {
			return fmt.Errorf("function %s: InlineCode works only with Python and Node.js runtimes, not %s: put the code in a directory and point CodeUri at it", fn.Name, fn.Runtime)
		}
		b.Context = append(b.Context, ContextEntry{Kind: EntryText, Target: "task/" + file, Text: fn.InlineCode})
	default:
		return fmt.Errorf("function %s: unknown code kind %q", fn.Name, fn.CodeKind)
	}
	df.WriteString(bs.copy("task", taskDir))

	if err := writeEnv(&df, fn); err != nil {
		return err
	}
	cmd, err := execForm(fn.Handler)
	if err != nil {
		return fmt.Errorf("function %s: Handler: %w", fn.Name, err)
	}
	fmt.Fprintf(&df, "CMD %s\n", cmd)

	b.Dockerfile = "Dockerfile"
	b.DockerfileText = header + bs.stages + df.String()
	if bs.stagesBuildKit != bs.stages {
		b.DockerfileTextBuildKit = header + bs.stagesBuildKit + df.String()
	}
	b.From = []string{base}
	bs.finish(b)
	return nil
}

// LayerLabel names a layer in messages: its logical ID, or its ARN for a published layer.
func LayerLabel(l sam.Layer) string {
	if l.LogicalID != "" {
		return l.LogicalID
	}
	return l.ARN
}

// codeEntry is a code or layer path of fn in the context; a directory leaves out what sam build
// leaves out of fn's code (buildMethod: the function's or the layer's Metadata.BuildMethod).
func (p *planner) codeEntry(src, kind, target, runtime, buildMethod string) ContextEntry {
	if kind == EntryDir {
		e := p.dirEntry(src, target, false)
		e.ExcludeNames = builders.ExcludedFiles(runtime, buildMethod)
		return e
	}
	return ContextEntry{Kind: kind, Source: src, Target: target}
}

// envInstruction writes one ENV line. The value is double-quoted with \, " and $ escaped, so
// the builder stores it verbatim: ${VAR} placeholders stay literal for the stack to resolve at
// run time instead of being expanded (to nothing) by the Dockerfile's own substitution.
func envInstruction(key, value string) (string, error) {
	if !envKey.MatchString(key) {
		return "", fmt.Errorf("%q is not a valid environment variable name (letters, digits and _, not starting with a digit)", key)
	}
	if strings.ContainsAny(value, "\r\n") {
		return "", fmt.Errorf("the value contains a line break, which a Dockerfile ENV cannot hold: keep it on one line")
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return fmt.Sprintf("ENV %s=\"%s\"\n", key, r.Replace(value)), nil
}

// execForm renders args as a JSON exec-form array, without HTML escaping.
func execForm(args ...string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

// services plans the compose services: those with build: are built under the name compose
// gives them (image: or <project>-<service>), so the bundle can run `compose up --no-build`;
// those with only image: are external.
func (p *planner) services(c *compose.File) error {
	p.plan.Variables = c.Used
	for _, name := range c.Unset {
		p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf("compose file: variable %s is not set, using an empty string", name))
	}
	external := map[string][]string{}
	for _, s := range c.Services {
		if s.Build == nil {
			ref, err := engine.FamiliarRef(s.Image)
			if err != nil {
				return fmt.Errorf("service %s: image %q: %w", s.Name, s.Image, err)
			}
			external[ref] = append(external[ref], s.Name)
			continue
		}
		tag := s.Image
		if tag == "" {
			tag = p.req.Project + "-" + strings.ToLower(s.Name)
		}
		ref, err := engine.FamiliarRef(tag)
		if err != nil {
			return fmt.Errorf("service %s: image name %q: %w", s.Name, tag, err)
		}
		labels := copyMap(s.Build.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[p.label("kind")] = manifest.KindService
		labels[p.label("service")] = s.Name
		err = p.addBuild(ImageBuild{
			Name: ref, Kind: manifest.KindService, Source: SourceInternal, For: s.Name,
			Dockerfile: s.Build.Dockerfile,
			Context:    []ContextEntry{p.dirEntry(s.Build.Context, "", true)},
			Labels:     labels,
			BuildArgs:  copyMap(s.Build.Args),
			Target:     s.Build.Target,
			Platform:   s.Platform,
		})
		if err != nil {
			return err
		}
	}
	for ref, svcs := range external {
		// A service that runs an image another service builds needs no pull.
		if _, ok := p.built[ref]; ok {
			continue
		}
		sort.Strings(svcs)
		p.plan.External = append(p.plan.External, ExternalImage{Name: ref, Services: svcs})
	}
	sort.Slice(p.plan.External, func(i, j int) bool { return p.plan.External[i].Name < p.plan.External[j].Name })
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
