package builders

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// GradleInitPath is where the Gradle builder's init script lies in the build stage; the caller
// puts GradleInitScript there through the build context (ContextFiles).
const GradleInitPath = "/build/lambda-init.gradle"

// ContextFiles are generated files the build stage needs, by their path in the context below
// ctxDir (the same directory Stage is given).
func (p Plan) ContextFiles(ctxDir string) map[string]string {
	if p.Builder == Gradle {
		return map[string]string{path.Join(ctxDir, "lambda-init.gradle"): GradleInitScript}
	}
	return nil
}

// Stage writes the build stage named stage. src is the code's directory in the build context,
// ctxDir a directory of the context for ContextFiles. The manifests are copied and the
// dependency step run before the rest of the code is copied, so Docker's layer cache reruns
// that step only when a manifest, the build image or a mirror setting changes. This variant
// is the classic builder's; StageBuildKit adds the cache mounts.
func (p Plan) Stage(stage, src, ctxDir string) string { return p.stage(stage, src, ctxDir, false) }

// StageBuildKit is Stage for BuildKit: the dependency and build steps run with the builder's
// cache directories mounted (CacheMounts), which the classic builder cannot parse.
func (p Plan) StageBuildKit(stage, src, ctxDir string) string {
	return p.stage(stage, src, ctxDir, true)
}

// CacheMount is a directory BuildKit keeps between builds for a builder's install and build
// steps: a package manager's download cache, or a tool's module store.
type CacheMount struct {
	ID     string // one per tool, shared by every function: a changed lock file downloads only what is new
	Target string
	Env    string // the variable pointing the tool at Target; "" where Target is the tool's default
}

// cacheRoot holds the cache mounts whose tool takes its directory from a variable.
const cacheRoot = "/var/cache/dindbundler/"

// CacheMounts are the builder's cache directories.
func (p Plan) CacheMounts() []CacheMount {
	switch p.Builder {
	case Pip:
		return []CacheMount{{ID: "dindbundler-pip", Target: cacheRoot + "pip", Env: "PIP_CACHE_DIR"}}
	case Npm, Esbuild:
		return []CacheMount{{ID: "dindbundler-npm", Target: cacheRoot + "npm", Env: "npm_config_cache"}}
	case Maven:
		return []CacheMount{{ID: "dindbundler-maven", Target: "/root/.m2/repository"}}
	case Gradle:
		return []CacheMount{{ID: "dindbundler-gradle", Target: "/root/.gradle/caches"}}
	case GoModules:
		return []CacheMount{
			{ID: "dindbundler-go-mod", Target: cacheRoot + "go-mod", Env: "GOMODCACHE"},
			{ID: "dindbundler-go-build", Target: cacheRoot + "go-build", Env: "GOCACHE"},
		}
	case Cargo:
		return []CacheMount{
			{ID: "dindbundler-cargo-registry", Target: "/root/.cargo/registry"},
			{ID: "dindbundler-cargo-git", Target: "/root/.cargo/git"},
		}
	case Dotnet:
		return []CacheMount{{ID: "dindbundler-nuget", Target: cacheRoot + "nuget", Env: "NUGET_PACKAGES"}}
	case Bundler:
		return []CacheMount{{ID: "dindbundler-bundler", Target: cacheRoot + "bundler", Env: "BUNDLE_USER_CACHE"}}
	}
	return nil
}

// run is a RUN instruction of cmd, with the cache mounts when mounts is set.
func (p Plan) run(cmd string, mounts bool) string {
	if !mounts {
		return "RUN " + cmd + "\n"
	}
	var flags, env []string
	for _, m := range p.CacheMounts() {
		flags = append(flags, fmt.Sprintf("--mount=type=cache,id=%s,target=%s,sharing=locked", m.ID, m.Target))
		if m.Env != "" {
			env = append(env, m.Env+"="+m.Target)
		}
	}
	if len(env) > 0 {
		cmd = "export " + strings.Join(env, " ") + " && " + cmd
	}
	if len(flags) == 0 {
		return "RUN " + cmd + "\n"
	}
	return "RUN " + strings.Join(flags, " ") + " " + cmd + "\n"
}

func (p Plan) stage(stage, src, ctxDir string, mounts bool) string {
	if p.Builder == "" || (p.Deps == "" && p.Build == "" && len(p.Copies) == 0) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Build stage: %s in %s (override with %s).\n", p.Builder, p.Image, p.ImageVariable)
	fmt.Fprintf(&b, "FROM %s AS %s\n", p.Image, stage)
	for _, k := range slices.Sorted(maps.Keys(p.Args)) {
		fmt.Fprintf(&b, "ARG %s\n", k)
	}
	fmt.Fprintf(&b, "WORKDIR %s\n", SrcDir)
	if p.Deps != "" {
		for _, m := range p.Manifests {
			if strings.HasSuffix(m, "/") {
				fmt.Fprintf(&b, "COPY %s ./%s\n", jsonArgs(path.Join(src, m)+"/", ""), m)
				continue
			}
			fmt.Fprintf(&b, "COPY %s\n", jsonArgs(path.Join(src, m), "./"))
		}
		b.WriteString(p.run(fmt.Sprintf("mkdir -p %s %s && %s", DepDir, OutDir, p.Deps), mounts))
	} else {
		fmt.Fprintf(&b, "RUN mkdir -p %s %s\n", DepDir, OutDir)
	}
	if p.Build != "" {
		for target := range p.ContextFiles(ctxDir) {
			fmt.Fprintf(&b, "COPY %s\n", jsonArgs(target, "/build/"+path.Base(target)))
		}
		fmt.Fprintf(&b, "COPY %s/ ./\n", src)
		b.WriteString(p.run(p.Build, mounts))
	}
	return b.String()
}

// CopyLines are the function image's COPY instructions: the build stage's outputs, then the
// code itself from src in the context, into root (/var/task or /opt).
func (p Plan) CopyLines(stage, src, root string) string {
	var b strings.Builder
	for _, c := range p.Copies {
		to := root + "/"
		if c.To != "" {
			to = path.Join(root, c.To) + "/"
		}
		fmt.Fprintf(&b, "COPY --from=%s %s %s\n", stage, c.From, to)
	}
	switch p.Source {
	case NoSource:
	case "":
		fmt.Fprintf(&b, "COPY %s/ %s/\n", src, root)
	default:
		fmt.Fprintf(&b, "COPY %s/ %s/\n", src, path.Join(root, p.Source))
	}
	return b.String()
}

// jsonArgs renders a COPY's arguments in exec form, which takes paths with spaces.
func jsonArgs(src, dest string) string {
	if dest == "" {
		return shellQuote(src)
	}
	return fmt.Sprintf("[%q, %q]", src, dest)
}

// shellQuote quotes s for sh when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
