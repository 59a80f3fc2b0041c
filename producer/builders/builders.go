// Package builders decides how the code of a Zip function or of a layer is built before it goes
// into its image, the way `sam build --use-container` does (aws-lambda-builders' workflows):
// which builder fits (pip, npm, esbuild, Maven, Gradle, Go modules, makefile, cargo-lambda,
// dotnet, bundler), which build image it runs in, and the commands of its dependency step and of
// its build step. It owns the build stage of a function image's Dockerfile; it reads neither the
// disk nor the engine (the caller lists the code directory), and it never runs anything.
package builders

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Builders, named after aws-lambda-builders' workflows.
const (
	Pip       = "python-pip"
	Npm       = "nodejs-npm"
	Esbuild   = "nodejs-npm-esbuild"
	Maven     = "java-maven"
	Gradle    = "java-gradle"
	GoModules = "go-modules"
	Makefile  = "makefile"
	Cargo     = "rust-cargolambda"
	Dotnet    = "dotnet"
	Bundler   = "ruby-bundler"
)

// BuildMethods as templates write them in Metadata.BuildMethod (other than runtime names).
const (
	MethodEsbuild  = "esbuild"
	MethodMakefile = "makefile"
	MethodGo       = "go1.x"
	MethodCargo    = "rust-cargolambda"
	MethodDotnet   = "dotnet7" // sam's name for dotnet built on provided runtimes
)

// Where the build stage works: the code (and the manifests first) in SrcDir, outputs in OutDir.
const (
	SrcDir = "/build/src"
	OutDir = "/build/out"
	DepDir = "/build/deps"
)

// BuildVariables are passed to the build stage as build arguments when set in the stack's
// variables, so dependency steps can use a mirror or an internal registry (and Go builds can
// turn cgo on). They enter the Docker cache key of the steps that follow: changing the mirror
// reruns the dependency step.
var BuildVariables = []string{
	"CGO_ENABLED",
	"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
	"NPM_CONFIG_REGISTRY", "NPM_CONFIG_STRICT_SSL",
	"GOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GOFLAGS", "GOSUMDB",
	"MAVEN_OPTS", "MAVEN_ARGS", "GRADLE_OPTS",
	"NUGET_SOURCE", "CARGO_REGISTRIES_CRATES_IO_PROTOCOL",
	"BUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
}

// Input is one function's or layer's code as the planner sees it.
type Input struct {
	Name  string // logical ID: named in messages, and the makefile target build-<Name>
	Layer bool
	// Runtime is the function's runtime; for a layer, its BuildMethod when that names a runtime,
	// else its first CompatibleRuntime.
	Runtime         string
	Architecture    string // "x86_64" (default) or "arm64"
	Handler         string
	BuildMethod     string
	BuildProperties map[string]any
	// Files are the entries at the top of the code directory; directories end in "/".
	Files []string
	// Vars are the stack's variables: BUILD_IMAGE_<RUNTIME> and BuildVariables.
	Vars map[string]string
}

// Copy is one path the function image takes from the build stage.
type Copy struct {
	From string // absolute path in the build stage; a trailing / copies a directory's contents
	To   string // relative to /var/task (functions) or /opt (layers); "" is that directory
}

// Plan is how one function's or layer's code is built.
type Plan struct {
	Builder string // one of the builder constants; "" when the code goes in as it is
	// Image is the build image; ImageVariable the variable that overrides it.
	Image         string
	ImageVariable string
	// Manifests are copied into SrcDir before the dependency step, so the step's Docker cache
	// is keyed on them alone; a trailing / marks a directory.
	Manifests []string
	Deps      string // shell commands of the dependency step; "" none
	Build     string // shell commands run after the whole source is copied; "" none
	Copies    []Copy // what the image takes from the build stage
	// Source is where the code itself goes, relative to /var/task or /opt; NoSource when only
	// the build's outputs go in.
	Source string
	// Exclude are top-level entries of the code directory left out of the build context.
	Exclude []string
	// Args are the BuildVariables set in Vars, passed as build arguments.
	Args     map[string]string
	Warnings []string
}

// NoSource says the code itself does not go into the image, only the build's outputs.
const NoSource = "-"

// BuildImagePrefix is the repository prefix of AWS's public build images: sam/build-<runtime>.
const BuildImagePrefix = "public.ecr.aws/sam/build-"

// ImageVariable names the variable that points runtime's builds at another build image:
// BUILD_IMAGE_ and the runtime upper-cased, every other character an underscore
// (python3.12 → BUILD_IMAGE_PYTHON3_12), the rule of RUNTIME_BASE_<RUNTIME>.
func ImageVariable(runtime string) string { return ImageVariablePrefix + VariableSuffix(runtime) }

// ImageVariablePrefix starts every BUILD_IMAGE_<RUNTIME> variable.
const ImageVariablePrefix = "BUILD_IMAGE_"

// VariableSuffix is runtime upper-cased with every character but letters and digits an
// underscore: the suffix of BUILD_IMAGE_<RUNTIME> and RUNTIME_BASE_<RUNTIME>.
func VariableSuffix(runtime string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		}
		return '_'
	}, runtime)
}

// BuildImage is the build image of runtime for arch ("x86_64" or "arm64"; "" is x86_64):
// BUILD_IMAGE_<RUNTIME> in vars, else AWS's public image as `sam build --use-container` names it,
// public.ecr.aws/sam/build-<runtime>:latest-<arch>.
func BuildImage(runtime, arch string, vars map[string]string) string {
	if v := strings.TrimSpace(vars[ImageVariable(runtime)]); v != "" {
		return v
	}
	if arch != "arm64" {
		arch = "x86_64"
	}
	return BuildImagePrefix + runtime + ":latest-" + arch
}

// Error is a build that cannot be planned: the function or layer, and why.
type Error struct {
	Name   string
	Layer  bool
	Reason string
}

func (e *Error) Error() string {
	what := "function"
	if e.Layer {
		what = "layer"
	}
	return fmt.Sprintf("%s %s: %s", what, e.Name, e.Reason)
}

// Choose plans in's build. A zero Plan (Builder "") means the code goes in as it is, possibly
// with warnings about dependencies that `sam build` would skip too.
func Choose(in Input) (Plan, error) {
	c := chooser{in: in, files: map[string]bool{}}
	for _, f := range in.Files {
		c.files[f] = true
	}
	p, err := c.choose()
	if err != nil {
		return Plan{}, &Error{Name: in.Name, Layer: in.Layer, Reason: err.Error()}
	}
	if p.Builder == "" {
		return p, nil
	}
	if c.has(".aws-sam/") {
		// sam build's own output in the code directory (CodeUri: .): never part of the code.
		p.Exclude = append(p.Exclude, ".aws-sam/")
	}
	p.Image = BuildImage(c.in.Runtime, in.Architecture, in.Vars)
	p.ImageVariable = ImageVariable(c.in.Runtime)
	for _, k := range BuildVariables {
		if v, ok := in.Vars[k]; ok && v != "" {
			if p.Args == nil {
				p.Args = map[string]string{}
			}
			p.Args[k] = v
		}
	}
	return p, nil
}

type chooser struct {
	in    Input
	files map[string]bool
}

func (c *chooser) has(names ...string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return c.files[n] })
}

// present keeps the names the code directory holds, in order.
func (c *chooser) present(names ...string) []string {
	var out []string
	for _, n := range names {
		if c.files[n] {
			out = append(out, n)
		}
	}
	return out
}

func (c *chooser) withSuffix(s string) []string {
	var out []string
	for _, f := range c.in.Files {
		if strings.HasSuffix(f, s) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// family is the language of a runtime: python3.12 → python.
func family(runtime string) string {
	for _, f := range []string{"python", "nodejs", "java", "dotnet", "ruby", "provided", "go"} {
		if strings.HasPrefix(runtime, f) {
			return f
		}
	}
	return ""
}

func (c *chooser) choose() (Plan, error) {
	method := strings.ToLower(strings.TrimSpace(c.in.BuildMethod))
	if c.in.Layer && method != "" && method != MethodMakefile && family(method) != "" {
		// A layer's BuildMethod names the runtime it is built for.
		c.in.Runtime = method
		method = ""
	}
	switch method {
	case MethodEsbuild:
		return c.esbuild()
	case MethodMakefile:
		return c.makefile()
	case MethodGo:
		return c.goModules()
	case MethodCargo:
		return c.cargo()
	case "dotnet7", "dotnet":
		return c.dotnet()
	case "":
	default:
		if family(method) == "" || family(method) != family(c.in.Runtime) {
			return Plan{}, fmt.Errorf("Metadata.BuildMethod %q is not one sam build knows for runtime %s (esbuild, makefile, go1.x, rust-cargolambda, dotnet7, or the runtime itself)", c.in.BuildMethod, c.in.Runtime)
		}
	}
	if c.in.Layer && c.in.BuildMethod == "" {
		return Plan{}, nil // layers without a BuildMethod are taken as they are, as sam build does
	}
	switch family(c.in.Runtime) {
	case "python":
		return c.pip()
	case "nodejs":
		return c.npm()
	case "java":
		return c.java()
	case "dotnet":
		return c.dotnet()
	case "ruby":
		return c.bundler()
	case "provided", "go":
		var p Plan
		switch {
		case c.has("go.mod"):
			p.Warnings = append(p.Warnings, fmt.Sprintf("function %s (%s) has go.mod but no Metadata.BuildMethod: go1.x; its directory is copied as it is (sam build needs the BuildMethod too)", c.in.Name, c.in.Runtime))
		case c.has("Cargo.toml"):
			p.Warnings = append(p.Warnings, fmt.Sprintf("function %s (%s) has Cargo.toml but no Metadata.BuildMethod: rust-cargolambda; its directory is copied as it is", c.in.Name, c.in.Runtime))
		case c.has("Makefile"):
			p.Warnings = append(p.Warnings, fmt.Sprintf("function %s (%s) has a Makefile but no Metadata.BuildMethod: makefile; its directory is copied as it is", c.in.Name, c.in.Runtime))
		}
		return p, nil
	}
	return Plan{}, nil
}

// dest is where a layer's code and dependencies go under /opt, by language, as Lambda's
// runtimes search them (python/, nodejs/, java/lib/, ruby/gems); functions use /var/task.
func (c *chooser) dest(functionPath, layerPath string) string {
	if c.in.Layer {
		return layerPath
	}
	return functionPath
}

func (c *chooser) what() string {
	if c.in.Layer {
		return "layer " + c.in.Name
	}
	return "function " + c.in.Name
}

func (c *chooser) pip() (Plan, error) {
	if !c.has("requirements.txt") {
		var p Plan
		if other := c.present("Pipfile", "pyproject.toml", "poetry.lock", "setup.py", "uv.lock"); len(other) > 0 {
			// aws-lambda-builders' pip workflow: "requirements.txt file not found. Continuing the
			// build without dependencies."
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s (%s) declares dependencies in %s but has no requirements.txt, so they are not installed (sam build skips them too): write one, e.g. `pipenv requirements > requirements.txt` or `uv export > requirements.txt`", c.what(), c.in.Runtime, strings.Join(other, ", ")))
		}
		if c.in.Layer {
			p.Builder, p.Source = Pip, "python"
		}
		return p, nil
	}
	return Plan{
		Builder:   Pip,
		Manifests: []string{"requirements.txt"},
		// The runtime's own build image gives the Python version; the build runs for the
		// function's platform, so wheels match its architecture.
		Deps:   "python3 -m pip install --disable-pip-version-check --no-warn-script-location -r requirements.txt -t " + DepDir,
		Copies: []Copy{{From: DepDir + "/", To: c.dest("", "python")}},
		Source: c.dest("", "python"),
	}, nil
}

func (c *chooser) npmInstall(production bool) (manifests []string, cmd string) {
	manifests = append([]string{"package.json"}, c.present("package-lock.json", "npm-shrinkwrap.json", ".npmrc")...)
	omit := ""
	if production {
		omit = " --omit=dev"
	}
	if c.has("package-lock.json", "npm-shrinkwrap.json") {
		return manifests, "npm ci --no-audit --no-fund" + omit
	}
	return manifests, "npm install --no-audit --no-fund --no-save --no-package-lock" + omit
}

func (c *chooser) npm() (Plan, error) {
	if !c.has("package.json") {
		if c.in.Layer {
			return Plan{Builder: Npm, Source: "nodejs"}, nil
		}
		return Plan{}, nil // sam build: "package.json file not found. Continuing the build without dependencies."
	}
	var p Plan
	if other := c.present("yarn.lock", "pnpm-lock.yaml"); len(other) > 0 && !c.has("package-lock.json", "npm-shrinkwrap.json") {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %s is not used; dependencies are installed with npm from package.json, as sam build does", c.what(), strings.Join(other, ", ")))
	}
	p.Builder = Npm
	p.Manifests, p.Deps = c.npmInstall(true)
	p.Deps += " && mkdir -p node_modules" // npm makes none for a package without dependencies
	p.Copies = []Copy{{From: SrcDir + "/node_modules/", To: c.dest("node_modules", "nodejs/node_modules")}}
	p.Source = c.dest("", "nodejs")
	p.Exclude = []string{"node_modules/"}
	return p, nil
}

// esbuild bundles the entry points as sam build's nodejs-npm-esbuild workflow does:
// `esbuild --bundle --platform=node --outdir=…` with target es2020, format cjs and minify
// unless BuildProperties say otherwise; BuildProperties keys become flags (Minify → --minify,
// Target: es2022 → --target=es2022, External: [a] → --external:a).
func (c *chooser) esbuild() (Plan, error) {
	if !c.has("package.json") {
		return Plan{}, fmt.Errorf("Metadata.BuildMethod esbuild needs a package.json (listing esbuild) next to the code")
	}
	props := map[string]any{}
	for k, v := range c.in.BuildProperties {
		props[snake(k)] = v
	}
	entries, err := stringList(props["entry_points"])
	if err != nil || len(entries) == 0 {
		return Plan{}, fmt.Errorf("Metadata.BuildProperties.EntryPoints must list the entry files (e.g. [app.ts])")
	}
	args := []string{"--bundle", "--platform=node", "--outdir=" + OutDir}
	for _, d := range []struct{ key, flag string }{{"target", "--target=es2020"}, {"format", "--format=cjs"}, {"minify", "--minify"}} {
		if _, ok := props[d.key]; !ok {
			args = append(args, d.flag)
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "entry_points", "use_npm_ci", "bundle", "platform", "outdir":
			continue
		}
		flag := "--" + strings.ReplaceAll(k, "_", "-")
		switch v := props[k].(type) {
		case bool:
			if v {
				args = append(args, flag)
			}
		case []any:
			for _, e := range v {
				args = append(args, fmt.Sprintf("%s:%v", flag, e))
			}
		default:
			args = append(args, fmt.Sprintf("%s=%v", flag, v))
		}
	}
	for _, e := range entries {
		args = append(args, e)
	}
	var p Plan
	p.Builder = Esbuild
	p.Manifests, p.Deps = c.npmInstall(false) // esbuild and the bundle's imports, dev ones included
	p.Build = "npx --no-install esbuild " + shellJoin(args)
	p.Copies = []Copy{{From: OutDir + "/", To: c.dest("", "nodejs")}}
	p.Source = NoSource
	p.Exclude = []string{"node_modules/"}
	return p, nil
}

func (c *chooser) java() (Plan, error) {
	lib := c.dest("lib", "java/lib")
	classes := "cp -R target/classes/. " + OutDir + "/"
	if c.in.Layer {
		classes = "cp target/*.jar " + OutDir + "/java/lib/"
	}
	switch {
	case c.has("pom.xml"):
		mvn := "mvn"
		manifests := []string{"pom.xml"}
		if c.has("mvnw") {
			mvn = "./mvnw"
			manifests = append(manifests, "mvnw")
			manifests = append(manifests, c.present(".mvn/")...)
		}
		return Plan{
			Builder: Maven, Manifests: manifests,
			// A prefetch for the cache: go-offline also wants plugins the build never runs (site,
			// deploy), which a mirror may lack; the build step resolves what is still missing
			// and fails there, with Maven's own message, if it cannot.
			Deps: "(" + mvn + " -q -B org.apache.maven.plugins:maven-dependency-plugin:go-offline || echo 'dependency prefetch incomplete: the build resolves the rest')",
			// sam build: `mvn clean install`, then the runtime-scope dependency jars into lib/.
			// No clean: target/ is left out of the context, so the stage starts without one.
			Build: strings.Join([]string{
				mvn + " -q -B install -DskipTests",
				mvn + " -q -B org.apache.maven.plugins:maven-dependency-plugin:copy-dependencies -DincludeScope=runtime -Dmdep.prependGroupId=true",
				"mkdir -p " + OutDir + "/" + lib,
				classes,
				"if [ -d target/dependency ]; then cp target/dependency/*.jar " + OutDir + "/" + lib + "/; fi",
			}, " && "),
			Copies:  []Copy{{From: OutDir + "/", To: ""}},
			Source:  NoSource,
			Exclude: []string{"target/"},
		}, nil
	case c.has("build.gradle", "build.gradle.kts"):
		gradle := "gradle"
		manifests := c.present("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradle.properties")
		if c.has("gradlew") {
			gradle = "./gradlew"
			manifests = append(manifests, "gradlew")
			manifests = append(manifests, c.present("gradle/")...)
		}
		jar := "cd " + OutDir + " && jar xf \"$jar\""
		if c.in.Layer {
			jar = "cp \"$jar\" " + OutDir + "/java/lib/"
		}
		return Plan{
			Builder: Gradle, Manifests: manifests,
			Deps: gradle + " --no-daemon -q dependencies > /dev/null",
			// sam build's init script: the project's jar unpacked at the top, the runtime
			// classpath's jars in lib/.
			Build: strings.Join([]string{
				gradle + " --no-daemon -q build -x test",
				"mkdir -p " + OutDir + "/" + lib,
				gradle + " --no-daemon -q --init-script /build/lambda-init.gradle dindbundlerLambdaLib -PlambdaLib=" + OutDir + "/" + lib,
				"jar=$(ls build/libs/*.jar | grep -v -- '-plain.jar' | head -n 1)",
				jar,
			}, " && "),
			Copies:  []Copy{{From: OutDir + "/", To: ""}},
			Source:  NoSource,
			Exclude: []string{"build/", ".gradle/"},
		}, nil
	}
	p := Plan{}
	if len(c.withSuffix(".java")) > 0 {
		return Plan{}, fmt.Errorf("%s has Java sources but no pom.xml or build.gradle[.kts]: add one, or point CodeUri at the built .jar", c.in.Runtime)
	}
	return p, nil
}

// GradleInitScript adds the task the Gradle builder runs to copy the runtime classpath.
const GradleInitScript = `allprojects {
    afterEvaluate { p ->
        if (p.configurations.findByName('runtimeClasspath') != null) {
            p.tasks.register('dindbundlerLambdaLib', Copy) {
                from p.configurations.runtimeClasspath
                into p.property('lambdaLib')
            }
        }
    }
}
`

func (c *chooser) goArch() string {
	if c.in.Architecture == "arm64" {
		return "arm64"
	}
	return "amd64"
}

// goModules builds bootstrap as sam build's go-modules workflow does:
// GOOS=linux GOARCH=<arch> go build -o bootstrap <code dir>.
func (c *chooser) goModules() (Plan, error) {
	if !c.has("go.mod") {
		return Plan{}, fmt.Errorf("Metadata.BuildMethod go1.x needs go.mod next to the code (CodeUri)")
	}
	flags := ""
	if b, _ := c.in.BuildProperties["TrimGoPath"].(bool); b {
		flags = " -trimpath"
	}
	// Static by default (CGO_ENABLED=0, as Lambda's Go guide builds for provided.al2023);
	// CGO_ENABLED=1 in the stack's variables links against the build image's libc.
	env := fmt.Sprintf("CGO_ENABLED=${CGO_ENABLED:-0} GOOS=linux GOARCH=%s", c.goArch())
	return Plan{
		Builder: GoModules, Manifests: append([]string{"go.mod"}, c.present("go.sum")...),
		// Besides downloading, the direct dependencies are compiled into the build cache, which
		// the layer keeps: a code change then compiles only the function's own packages.
		Deps:   fmt.Sprintf("go mod download && (%s go build%s $(go list -m -f '{{if and (not .Main) (not .Indirect)}}{{.Path}}/...{{end}}' all) >/dev/null 2>&1 || true)", env, flags),
		Build:  fmt.Sprintf("%s go build%s -o %s/bootstrap .", env, flags, OutDir),
		Copies: []Copy{{From: OutDir + "/", To: ""}},
		Source: NoSource,
	}, nil
}

// makefile runs `make build-<LogicalId>` with ARTIFACTS_DIR, as sam build's custom-make
// workflow does; everything in ARTIFACTS_DIR goes into the image.
func (c *chooser) makefile() (Plan, error) {
	if !c.has("Makefile") {
		return Plan{}, fmt.Errorf("Metadata.BuildMethod makefile needs a Makefile next to the code (CodeUri) with a target build-%s", c.in.Name)
	}
	if c.in.Runtime == "" {
		c.in.Runtime = "provided.al2023"
	}
	return Plan{
		Builder: Makefile,
		Build:   fmt.Sprintf("mkdir -p %s && ARTIFACTS_DIR=%s make --makefile Makefile build-%s", OutDir, OutDir, c.in.Name),
		Copies:  []Copy{{From: OutDir + "/", To: ""}},
		Source:  NoSource,
	}, nil
}

// cargo builds with `cargo lambda build --release [--arm64]`, as sam build's rust-cargolambda
// workflow does, and takes target/lambda/<binary>/bootstrap.
func (c *chooser) cargo() (Plan, error) {
	if !c.has("Cargo.toml") {
		return Plan{}, fmt.Errorf("Metadata.BuildMethod rust-cargolambda needs Cargo.toml next to the code (CodeUri)")
	}
	cmd := "cargo lambda build --release"
	if c.in.Architecture == "arm64" {
		cmd += " --arm64"
	}
	bin := ""
	if b, _ := c.in.BuildProperties["Binary"].(string); b != "" {
		bin = b
	}
	if bin != "" {
		cmd += " --bin " + shellQuote(bin)
	}
	find := "bin=$(ls target/lambda | head -n 1)"
	if bin != "" {
		find = "bin=" + shellQuote(bin)
	}
	return Plan{
		Builder: Cargo, Manifests: append([]string{"Cargo.toml"}, c.present("Cargo.lock")...),
		// cargo needs a target to fetch for; the stand-in main.rs goes before the source comes.
		Deps:   "mkdir -p src && touch src/main.rs && cargo fetch && rm src/main.rs",
		Build:  strings.Join([]string{cmd, find, "mkdir -p " + OutDir, "cp \"target/lambda/$bin/bootstrap\" " + OutDir + "/bootstrap"}, " && "),
		Copies: []Copy{{From: OutDir + "/", To: ""}},
		Source: NoSource,
	}, nil
}

// dotnet publishes for the Lambda runtime, what `dotnet lambda package` does underneath.
func (c *chooser) dotnet() (Plan, error) {
	projects := c.withSuffix(".csproj")
	projects = append(projects, c.withSuffix(".fsproj")...)
	if len(projects) == 0 {
		if strings.HasPrefix(c.in.BuildMethod, "dotnet") {
			return Plan{}, fmt.Errorf("Metadata.BuildMethod %s needs a .csproj or .fsproj next to the code", c.in.BuildMethod)
		}
		return Plan{}, nil // prebuilt assemblies, copied as they are
	}
	rid := "linux-x64"
	if c.in.Architecture == "arm64" {
		rid = "linux-arm64"
	}
	return Plan{
		Builder: Dotnet, Manifests: append(projects, c.present("NuGet.Config", "nuget.config", "Directory.Build.props", "Directory.Packages.props")...),
		Deps:   "dotnet restore -r " + rid,
		Build:  "dotnet publish -c Release -r " + rid + " --self-contained false --no-restore /p:GenerateRuntimeConfigurationFiles=true -o " + OutDir,
		Copies: []Copy{{From: OutDir + "/", To: ""}},
		Source: NoSource,
	}, nil
}

// bundler installs gems into vendor/bundle, as sam build's ruby-bundler workflow does.
func (c *chooser) bundler() (Plan, error) {
	if !c.has("Gemfile") {
		return Plan{}, nil
	}
	return Plan{
		Builder: Bundler, Manifests: append([]string{"Gemfile"}, c.present("Gemfile.lock")...),
		Deps:    "bundle config set --local path vendor/bundle && bundle config set --local without development:test && bundle install && mkdir -p vendor/bundle .bundle",
		Copies:  []Copy{{From: SrcDir + "/vendor/bundle/", To: c.dest("vendor/bundle", "ruby/gems")}, {From: SrcDir + "/.bundle/", To: c.dest(".bundle", "ruby/.bundle")}},
		Source:  c.dest("", "ruby/lib"),
		Exclude: []string{"vendor/", ".bundle/"},
	}, nil
}

// snake turns BuildProperties keys into aws-lambda-builders' names: EntryPoints → entry_points.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("not a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return x, nil
	case string:
		return []string{x}, nil
	}
	return nil, fmt.Errorf("not a list")
}
