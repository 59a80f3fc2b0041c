package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/dindbundler/dindbundler/producer/builders"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// This file joins the builders (producer/builders) to the function images: a Zip function whose
// code or layers need a build gets build stages in front of its Dockerfile, and its image takes
// their outputs instead of (or besides) the raw code, as `sam build --use-container` would.

// samBuildDir is where `sam build` writes its output, next to the template.
const samBuildDir = ".aws-sam/build"

// builtTemplate returns the template to plan from: .aws-sam/build/template.yaml next to
// template when `sam build` wrote it after the template was last changed (its artifacts are then
// used as they are), else template itself. note says which, for the progress output.
func builtTemplate(template string) (path, note string) {
	built := samBuildTemplate(template)
	bi, err := os.Stat(built)
	if err != nil {
		return template, ""
	}
	ti, err := os.Stat(template)
	if err != nil || !bi.ModTime().After(ti.ModTime()) {
		return template, fmt.Sprintf("note: %s is older than %s: building from the template (run `sam build` again to use its output)", built, template)
	}
	return built, fmt.Sprintf("using `sam build` output %s (newer than %s): its artifacts go in as they are", built, filepath.Base(template))
}

// samBuildTemplate is where `sam build` writes the built template for template.
func samBuildTemplate(template string) string {
	return filepath.Join(filepath.Dir(template), filepath.FromSlash(samBuildDir), "template.yaml")
}

// prebuilt reports whether dir is `sam build` output, which needs no further build.
func prebuilt(dir string) bool {
	return strings.Contains(filepath.ToSlash(dir)+"/", "/"+samBuildDir+"/")
}

// ScanCode lists the top level of every code and layer directory of t, for Plan (which reads
// no disk): directories end in "/".
func ScanCode(t *sam.Template) (map[string][]string, error) {
	out := map[string][]string{}
	add := func(dir string) error {
		if dir == "" || out[dir] != nil {
			return nil
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil // a .zip or a missing path: Plan reports it where it matters
		}
		if err != nil {
			return fmt.Errorf("list code directory %s: %w", dir, err)
		}
		names := []string{}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() {
				n += "/"
			}
			names = append(names, n)
		}
		out[dir] = names
		return nil
	}
	if t == nil {
		return out, nil
	}
	for _, fn := range t.Functions {
		if fn.CodeKind == sam.CodeDir || fn.CodeKind == "" {
			if err := add(fn.CodeURI); err != nil {
				return nil, err
			}
		}
		for _, l := range fn.Layers {
			if err := add(l.ContentURI); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

// codeBuild is one planned build: its stage name and where its code lies in the context.
type codeBuild struct {
	plan   builders.Plan
	stage  string
	target string // the code's directory in the build context
	source string // the code's directory on disk
}

// functionBuilds are the builds of one Zip function's image, by context directory.
type functionBuilds struct {
	stages         string
	stagesBuildKit string // stages with the builders' cache mounts
	builds         map[string]codeBuild
}

// planBuilds chooses the builders of fn's code and of its layers.
func (p *planner) planBuilds(fn sam.Function) (functionBuilds, error) {
	fb := functionBuilds{builds: map[string]codeBuild{}}
	add := func(in builders.Input, target, source string) error {
		files, listed := p.req.CodeFiles[source]
		if !listed || prebuilt(source) {
			return nil
		}
		in.Files, in.Vars = files, p.req.Vars
		if in.Architecture == "" {
			in.Architecture = fn.Architecture
		}
		plan, err := builders.Choose(in)
		if err != nil && in.Layer {
			return fmt.Errorf("%w (a layer of function %s)", err, fn.Name)
		}
		if err != nil {
			return err
		}
		p.plan.Warnings = append(p.plan.Warnings, plan.Warnings...)
		if plan.Builder == "" {
			return nil
		}
		cb := codeBuild{plan: plan, stage: "build-" + strings.ReplaceAll(target, "/", "-"), target: target, source: source}
		fb.stages += plan.Stage(cb.stage, target, "build/"+target)
		fb.stagesBuildKit += plan.StageBuildKit(cb.stage, target, "build/"+target)
		fb.builds[target] = cb
		return nil
	}
	for i, l := range fn.Layers {
		if l.BuildMethod == "" {
			continue
		}
		runtime := l.BuildMethod
		if strings.EqualFold(runtime, builders.MethodMakefile) {
			runtime = fn.Runtime
			if len(l.CompatibleRuntimes) > 0 {
				runtime = l.CompatibleRuntimes[0]
			}
		}
		// Metadata.BuildArchitecture wins for a layer, as in sam build.
		in := builders.Input{Name: l.LogicalID, Layer: true, Runtime: runtime, Architecture: l.BuildArchitecture, BuildMethod: l.BuildMethod, BuildProperties: l.BuildProperties}
		if err := add(in, fmt.Sprintf("layers/%d", i+1), l.ContentURI); err != nil {
			return fb, err
		}
	}
	if fn.CodeKind == sam.CodeDir || fn.CodeKind == "" {
		in := builders.Input{Name: fn.LogicalID, Runtime: fn.Runtime, Handler: fn.Handler, BuildMethod: fn.BuildMethod, BuildProperties: fn.BuildProperties}
		if err := add(in, "task", fn.CodeURI); err != nil {
			return fb, err
		}
	}
	return fb, nil
}

// copy is the COPY instructions that put the code at target of the context into dir.
func (fb functionBuilds) copy(target, dir string) string {
	if cb, ok := fb.builds[target]; ok {
		return cb.plan.CopyLines(cb.stage, target, dir)
	}
	return fmt.Sprintf("COPY %s/ %s/\n", target, dir)
}

// finish adds to b what the build stages need: the builders' exclusions on the code entries,
// their generated files, their build arguments, and their names for failure messages.
func (fb functionBuilds) finish(b *ImageBuild) {
	var names []string
	for i, e := range b.Context {
		cb, ok := fb.builds[e.Target]
		if !ok || e.Kind != EntryDir {
			continue
		}
		for _, x := range cb.plan.Exclude {
			b.Context[i].Exclude = append(b.Context[i].Exclude, filepath.Join(cb.source, filepath.FromSlash(strings.TrimSuffix(x, "/"))))
		}
	}
	targets := make([]string, 0, len(fb.builds))
	for t := range fb.builds {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		cb := fb.builds[t]
		names = append(names, fmt.Sprintf("%s for %s in %s", cb.plan.Builder, cb.target, cb.plan.Image))
		if !slices.Contains(b.From, cb.plan.Image) {
			b.From = append(b.From, cb.plan.Image)
		}
		for name, text := range cb.plan.ContextFiles("build/" + t) {
			b.Context = append(b.Context, ContextEntry{Kind: EntryText, Target: name, Text: text})
		}
		for k, v := range cb.plan.Args {
			if b.BuildArgs == nil {
				b.BuildArgs = map[string]string{}
			}
			b.BuildArgs[k] = v
		}
	}
	b.Builders = strings.Join(names, "; ")
	slices.Sort(b.From)
}

// buildFailure names the builders of a failed image build and the last lines of their output.
func buildFailure(b ImageBuild, err error, tail string) error {
	if b.Builders == "" {
		return fmt.Errorf("%s %s: %w", b.Kind, b.For, err)
	}
	return fmt.Errorf("%s %s: build failed (builders: %s): %w\nlast output lines:\n%s", b.Kind, b.For, b.Builders, err, indent(tail))
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	lines []string
	part  string
	max   int
}

// ansiEscape matches the colour and cursor sequences the engine and the renderer write.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func (t *tailWriter) Write(p []byte) (int, error) {
	s := t.part + ansiEscape.ReplaceAllString(strings.ReplaceAll(string(p), "\r", "\n"), "")
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		t.lines = append(t.lines, l)
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	lines := t.lines
	if strings.TrimSpace(t.part) != "" {
		lines = append(slices.Clone(lines), t.part)
	}
	if len(lines) > t.max {
		lines = lines[len(lines)-t.max:]
	}
	return strings.Join(lines, "\n")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
