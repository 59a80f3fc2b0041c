package builders

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestImageVariable(t *testing.T) {
	is := is.New(t)
	is.Equal(ImageVariable("python3.12"), "BUILD_IMAGE_PYTHON3_12")
	is.Equal(ImageVariable("provided.al2023"), "BUILD_IMAGE_PROVIDED_AL2023")
	is.Equal(BuildImage("nodejs20.x", "", nil), "public.ecr.aws/sam/build-nodejs20.x:latest-x86_64")
	is.Equal(BuildImage("nodejs20.x", "arm64", nil), "public.ecr.aws/sam/build-nodejs20.x:latest-arm64")
	is.Equal(BuildImage("nodejs20.x", "arm64", map[string]string{"BUILD_IMAGE_NODEJS20_X": " mirror.local/node:20 "}), "mirror.local/node:20")
	is.Equal(BuildImage("nodejs20.x", "x86_64", map[string]string{"BUILD_IMAGE_NODEJS20_X": ""}), "public.ecr.aws/sam/build-nodejs20.x:latest-x86_64")
}

// TestChoose is the builder table: what sam build picks for a code directory, and the commands.
func TestChoose(t *testing.T) {
	tests := []struct {
		name      string
		in        Input
		builder   string
		image     string
		manifests []string
		deps      string // substring of the dependency step ("" : none)
		build     string // substring of the build step ("" : none)
		copies    []Copy
		source    string
		exclude   []string
		warning   string // substring of the one warning ("" : none)
	}{
		{
			name:    "python without dependencies goes in as it is",
			in:      Input{Name: "Fn", Runtime: "python3.12", Files: []string{"app.py"}},
			builder: "",
		},
		{
			name:    "python requirements.txt: pip -t in the runtime's build image",
			in:      Input{Name: "Fn", Runtime: "python3.12", Files: []string{"app.py", "requirements.txt"}},
			builder: Pip, image: "public.ecr.aws/sam/build-python3.12:latest-x86_64", manifests: []string{"requirements.txt"},
			deps:   "pip install --disable-pip-version-check --no-warn-script-location -r requirements.txt -t /build/deps",
			copies: []Copy{{From: "/build/deps/", To: ""}},
		},
		{
			name:    "python Pipfile only: warned and skipped, as sam build does",
			in:      Input{Name: "Fn", Runtime: "python3.11", Files: []string{"app.py", "Pipfile", "Pipfile.lock"}},
			builder: "", warning: "declares dependencies in Pipfile but has no requirements.txt",
		},
		{
			name:    "python layer: into python/",
			in:      Input{Name: "Lib", Layer: true, Runtime: "python3.12", BuildMethod: "python3.12", Files: []string{"requirements.txt", "lib.py"}},
			builder: Pip, image: "public.ecr.aws/sam/build-python3.12:latest-x86_64", manifests: []string{"requirements.txt"}, deps: "-t /build/deps",
			copies: []Copy{{From: "/build/deps/", To: "python"}}, source: "python",
		},
		{
			name:    "layer without BuildMethod goes in as it is",
			in:      Input{Name: "Lib", Layer: true, Runtime: "python3.12", Files: []string{"requirements.txt"}},
			builder: "",
		},
		{
			name:    "npm with a lock file: npm ci, production only",
			in:      Input{Name: "Fn", Runtime: "nodejs20.x", Files: []string{"index.js", "package.json", "package-lock.json", "node_modules/"}},
			builder: Npm, image: "public.ecr.aws/sam/build-nodejs20.x:latest-x86_64", manifests: []string{"package.json", "package-lock.json"},
			deps: "npm ci --no-audit --no-fund --omit=dev", copies: []Copy{{From: "/build/src/node_modules/", To: "node_modules"}},
			exclude: []string{"node_modules/"},
		},
		{
			name:    "npm without a lock file: npm install, yarn.lock named",
			in:      Input{Name: "Fn", Runtime: "nodejs18.x", Files: []string{"index.js", "package.json", "yarn.lock", ".npmrc"}},
			builder: Npm, manifests: []string{"package.json", ".npmrc"},
			deps: "npm install --no-audit --no-fund --no-save --no-package-lock --omit=dev", image: "public.ecr.aws/sam/build-nodejs18.x:latest-x86_64",
			copies: []Copy{{From: "/build/src/node_modules/", To: "node_modules"}}, exclude: []string{"node_modules/"},
			warning: "yarn.lock is not used",
		},
		{
			name:    "nodejs layer: node_modules under nodejs/",
			in:      Input{Name: "Lib", Layer: true, BuildMethod: "nodejs20.x", Files: []string{"package.json"}},
			builder: Npm, manifests: []string{"package.json"}, deps: "npm install", image: "public.ecr.aws/sam/build-nodejs20.x:latest-x86_64",
			copies: []Copy{{From: "/build/src/node_modules/", To: "nodejs/node_modules"}}, source: "nodejs", exclude: []string{"node_modules/"},
		},
		{
			name: "esbuild with BuildProperties",
			in: Input{Name: "Fn", Runtime: "nodejs20.x", BuildMethod: "esbuild", Files: []string{"app.ts", "package.json", "package-lock.json"},
				BuildProperties: map[string]any{"EntryPoints": []any{"app.ts"}, "Minify": false, "Target": "es2022", "Sourcemap": true, "External": []any{"@aws-sdk/*"}}},
			builder: Esbuild, manifests: []string{"package.json", "package-lock.json"}, deps: "npm ci --no-audit --no-fund",
			build:  "npx --no-install esbuild --bundle --platform=node --outdir=/build/out --format=cjs '--external:@aws-sdk/*' --sourcemap --target=es2022 app.ts",
			image:  "public.ecr.aws/sam/build-nodejs20.x:latest-x86_64",
			copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"node_modules/"},
		},
		{
			name: "esbuild defaults: es2020, cjs, minify",
			in: Input{Name: "Fn", Runtime: "nodejs22.x", BuildMethod: "esbuild", Files: []string{"package.json"},
				BuildProperties: map[string]any{"EntryPoints": []any{"src/index.ts"}}},
			builder: Esbuild, manifests: []string{"package.json"}, deps: "npm install --no-audit --no-fund --no-save --no-package-lock",
			build: "esbuild --bundle --platform=node --outdir=/build/out --target=es2020 --format=cjs --minify src/index.ts", image: "public.ecr.aws/sam/build-nodejs22.x:latest-x86_64",
			copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"node_modules/"},
		},
		{
			name:    "maven: classes at the top, runtime jars in lib/",
			in:      Input{Name: "Fn", Runtime: "java21", Files: []string{"pom.xml", "src/"}},
			builder: Maven, manifests: []string{"pom.xml"}, deps: "mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:go-offline", image: "public.ecr.aws/sam/build-java21:latest-x86_64",
			build:  "mvn -q -B install -DskipTests && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:copy-dependencies -DincludeScope=runtime -Dmdep.prependGroupId=true && mkdir -p /build/out/lib && cp -R target/classes/. /build/out/",
			copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"target/"},
		},
		{
			name:    "maven wrapper",
			in:      Input{Name: "Fn", Runtime: "java17", Files: []string{"pom.xml", "mvnw", ".mvn/", "src/"}},
			builder: Maven, manifests: []string{"pom.xml", "mvnw", ".mvn/"}, deps: "./mvnw -q -B org.apache.maven.plugins:maven-dependency-plugin:go-offline", image: "public.ecr.aws/sam/build-java17:latest-x86_64",
			build: "./mvnw -q -B install", copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"target/"},
		},
		{
			name:    "gradle kts with wrapper",
			in:      Input{Name: "Fn", Runtime: "java21", Files: []string{"build.gradle.kts", "settings.gradle.kts", "gradlew", "gradle/", "src/"}},
			builder: Gradle, manifests: []string{"build.gradle.kts", "settings.gradle.kts", "gradlew", "gradle/"}, image: "public.ecr.aws/sam/build-java21:latest-x86_64",
			deps: "./gradlew --no-daemon -q dependencies", build: "./gradlew --no-daemon -q build -x test",
			copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"build/", ".gradle/"},
		},
		{
			name:    "java layer with maven: jars in java/lib",
			in:      Input{Name: "Lib", Layer: true, BuildMethod: "java21", Files: []string{"pom.xml"}},
			builder: Maven, manifests: []string{"pom.xml"}, deps: "maven-dependency-plugin:go-offline", image: "public.ecr.aws/sam/build-java21:latest-x86_64",
			build: "mkdir -p /build/out/java/lib && cp target/*.jar /build/out/java/lib/", copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource, exclude: []string{"target/"},
		},
		{
			name:    "go1.x on provided.al2023: bootstrap for the architecture",
			in:      Input{Name: "Fn", Runtime: "provided.al2023", Architecture: "arm64", BuildMethod: "go1.x", Files: []string{"go.mod", "go.sum", "main.go"}},
			builder: GoModules, manifests: []string{"go.mod", "go.sum"}, deps: "go mod download", image: "public.ecr.aws/sam/build-provided.al2023:latest-arm64",
			build: "CGO_ENABLED=${CGO_ENABLED:-0} GOOS=linux GOARCH=arm64 go build -o /build/out/bootstrap .", copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource,
		},
		{
			name:    "go.mod without BuildMethod: warned, copied",
			in:      Input{Name: "Fn", Runtime: "provided.al2", Files: []string{"go.mod", "bootstrap"}},
			warning: "has go.mod but no Metadata.BuildMethod: go1.x",
		},
		{
			name:    "makefile: build-<LogicalId> with ARTIFACTS_DIR in the runtime's build image",
			in:      Input{Name: "HelloFn", Runtime: "python3.12", BuildMethod: "makefile", Files: []string{"Makefile", "app.py"}},
			builder: Makefile, image: "public.ecr.aws/sam/build-python3.12:latest-x86_64",
			build:  "mkdir -p /build/out && ARTIFACTS_DIR=/build/out make --makefile Makefile build-HelloFn",
			copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource,
		},
		{
			name:    "rust-cargolambda",
			in:      Input{Name: "Fn", Runtime: "provided.al2023", BuildMethod: "rust-cargolambda", Architecture: "arm64", Files: []string{"Cargo.toml", "Cargo.lock", "src/"}},
			builder: Cargo, manifests: []string{"Cargo.toml", "Cargo.lock"}, deps: "cargo fetch", image: "public.ecr.aws/sam/build-provided.al2023:latest-arm64",
			build: "cargo lambda build --release --arm64 && bin=$(ls target/lambda | head -n 1)", copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource,
		},
		{
			name:    "dotnet: publish for the runtime",
			in:      Input{Name: "Fn", Runtime: "dotnet8", Files: []string{"Fn.csproj", "Function.cs"}},
			builder: Dotnet, manifests: []string{"Fn.csproj"}, deps: "dotnet restore -r linux-x64", image: "public.ecr.aws/sam/build-dotnet8:latest-x86_64",
			build: "dotnet publish -c Release -r linux-x64 --self-contained false --no-restore", copies: []Copy{{From: "/build/out/", To: ""}}, source: NoSource,
		},
		{
			name:    "ruby Gemfile: bundler into vendor/bundle",
			in:      Input{Name: "Fn", Runtime: "ruby3.3", Files: []string{"Gemfile", "Gemfile.lock", "app.rb"}},
			builder: Bundler, manifests: []string{"Gemfile", "Gemfile.lock"}, deps: "bundle install", image: "public.ecr.aws/sam/build-ruby3.3:latest-x86_64",
			copies:  []Copy{{From: "/build/src/vendor/bundle/", To: "vendor/bundle"}, {From: "/build/src/.bundle/", To: ".bundle"}},
			exclude: []string{"vendor/", ".bundle/"},
		},
		{
			name:    "CodeUri . : sam build's output stays out",
			in:      Input{Name: "Fn", Runtime: "python3.12", Files: []string{".aws-sam/", "app.py", "requirements.txt", "template.yaml"}},
			builder: Pip, image: "public.ecr.aws/sam/build-python3.12:latest-x86_64", manifests: []string{"requirements.txt"}, deps: "-t /build/deps",
			copies: []Copy{{From: "/build/deps/", To: ""}}, exclude: []string{".aws-sam/"},
		},
		{
			name:    "java directory without a build file goes in as it is",
			in:      Input{Name: "Fn", Runtime: "java21", Files: []string{"example/"}},
			builder: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			p, err := Choose(tt.in)
			is.NoErr(err)
			is.Equal(p.Builder, tt.builder)
			if tt.warning == "" {
				is.Equal(len(p.Warnings), 0) // no warning
			} else {
				is.Equal(len(p.Warnings), 1)
				if !strings.Contains(p.Warnings[0], tt.warning) {
					t.Fatalf("warning %q lacks %q", p.Warnings[0], tt.warning)
				}
			}
			if tt.builder == "" {
				return
			}
			is.Equal(p.Image, tt.image)
			is.Equal(p.Manifests, tt.manifests)
			contains(t, "dependency step", p.Deps, tt.deps)
			contains(t, "build step", p.Build, tt.build)
			is.Equal(p.Copies, tt.copies)
			is.Equal(p.Source, tt.source)
			is.Equal(p.Exclude, tt.exclude)
		})
	}
}

func contains(t *testing.T, what, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Fatalf("%s: want none, got %q", what, got)
		}
		return
	}
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q lacks %q", what, got, want)
	}
}

// TestChooseRefuses: dependencies or a BuildMethod that no builder can serve stop the plan with
// the function's name and what to do.
func TestChooseRefuses(t *testing.T) {
	tests := []struct {
		in   Input
		want string
	}{
		{Input{Name: "Fn", Runtime: "nodejs20.x", BuildMethod: "esbuild", Files: []string{"app.ts"}}, "function Fn: Metadata.BuildMethod esbuild needs a package.json"},
		{Input{Name: "Fn", Runtime: "nodejs20.x", BuildMethod: "esbuild", Files: []string{"package.json"}}, "EntryPoints must list the entry files"},
		{Input{Name: "Fn", Runtime: "provided.al2", BuildMethod: "makefile", Files: []string{"main.go"}}, "needs a Makefile next to the code (CodeUri) with a target build-Fn"},
		{Input{Name: "Fn", Runtime: "provided.al2", BuildMethod: "go1.x", Files: []string{"main.go"}}, "go1.x needs go.mod"},
		{Input{Name: "Fn", Runtime: "provided.al2", BuildMethod: "rust-cargolambda"}, "needs Cargo.toml"},
		{Input{Name: "Fn", Runtime: "java21", Files: []string{"Handler.java"}}, "Java sources but no pom.xml or build.gradle"},
		{Input{Name: "Fn", Runtime: "python3.12", BuildMethod: "nodejs20.x"}, `Metadata.BuildMethod "nodejs20.x" is not one sam build knows for runtime python3.12`},
		{Input{Name: "Lib", Layer: true, BuildMethod: "cobol"}, `layer Lib: Metadata.BuildMethod "cobol"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			is := is.New(t)
			_, err := Choose(tt.in)
			var be *Error
			is.True(errors.As(err, &be)) // a builders.Error
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

// TestMirrorArgs: mirror settings set in the stack's variables reach the build stage.
func TestMirrorArgs(t *testing.T) {
	is := is.New(t)
	p, err := Choose(Input{Name: "Fn", Runtime: "python3.12", Files: []string{"requirements.txt"},
		Vars: map[string]string{"PIP_INDEX_URL": "https://pypi.internal/simple", "GOPROXY": "", "OTHER": "x"}})
	is.NoErr(err)
	is.Equal(p.Args, map[string]string{"PIP_INDEX_URL": "https://pypi.internal/simple"})
	stage := p.Stage("build-task", "task", "build/task")
	is.True(strings.Contains(stage, "ARG PIP_INDEX_URL\n"))
}

// TestStageOrdersForTheCache: manifests, then the dependency step, then the source, then the
// build step; the image copies outputs, then the code.
func TestStageOrdersForTheCache(t *testing.T) {
	is := is.New(t)
	p, err := Choose(Input{Name: "Fn", Runtime: "provided.al2023", BuildMethod: "go1.x", Files: []string{"go.mod", "go.sum", "main.go"}})
	is.NoErr(err)
	is.Equal(p.Stage("build-task", "task", "build/task"), `# Build stage: go-modules in public.ecr.aws/sam/build-provided.al2023:latest-x86_64 (override with BUILD_IMAGE_PROVIDED_AL2023).
FROM public.ecr.aws/sam/build-provided.al2023:latest-x86_64 AS build-task
WORKDIR /build/src
COPY ["task/go.mod", "./"]
COPY ["task/go.sum", "./"]
RUN mkdir -p /build/deps /build/out && go mod download && (CGO_ENABLED=${CGO_ENABLED:-0} GOOS=linux GOARCH=amd64 go build $(go list -m -f '{{if and (not .Main) (not .Indirect)}}{{.Path}}/...{{end}}' all) >/dev/null 2>&1 || true)
COPY task/ ./
RUN CGO_ENABLED=${CGO_ENABLED:-0} GOOS=linux GOARCH=amd64 go build -o /build/out/bootstrap .
`)
	is.Equal(p.CopyLines("build-task", "task", "/var/task"), "COPY --from=build-task /build/out/ /var/task/\n")

	p, err = Choose(Input{Name: "Fn", Runtime: "nodejs20.x", Files: []string{"package.json"}})
	is.NoErr(err)
	is.Equal(p.CopyLines("build-task", "task", "/var/task"), "COPY --from=build-task /build/src/node_modules/ /var/task/node_modules/\nCOPY task/ /var/task/\n")
	is.True(!strings.Contains(p.Stage("build-task", "task", "build/task"), "COPY task/ ./")) // npm needs only the manifests

	p, err = Choose(Input{Name: "Fn", Runtime: "java21", Files: []string{"build.gradle"}})
	is.NoErr(err)
	is.Equal(p.ContextFiles("build/task"), map[string]string{"build/task/lambda-init.gradle": GradleInitScript})
	is.True(strings.Contains(p.Stage("build-task", "task", "build/task"), `COPY ["build/task/lambda-init.gradle", "/build/lambda-init.gradle"]`))
}

func TestSnake(t *testing.T) {
	is := is.New(t)
	is.Equal(snake("EntryPoints"), "entry_points")
	is.Equal(snake("MainFields"), "main_fields")
	is.Equal(snake("minify"), "minify")
}

// TestStageBuildKitMountsCaches: one plan, two Dockerfiles: BuildKit's runs the dependency and
// build steps with the builder's cache mounts (shared by id, locked), the classic one has no
// mount and is otherwise the same.
func TestStageBuildKitMountsCaches(t *testing.T) {
	tests := []struct {
		in     Input
		mounts []string // targets
		env    string
	}{
		{Input{Runtime: "python3.12", Files: []string{"requirements.txt", "app.py"}}, []string{"/var/cache/dindbundler/pip"}, "export PIP_CACHE_DIR=/var/cache/dindbundler/pip && "},
		{Input{Runtime: "nodejs20.x", Files: []string{"package.json", "package-lock.json"}}, []string{"/var/cache/dindbundler/npm"}, "export npm_config_cache=/var/cache/dindbundler/npm && "},
		{Input{Runtime: "java21", Files: []string{"pom.xml"}}, []string{"/root/.m2/repository"}, ""},
		{Input{Runtime: "java21", Files: []string{"build.gradle"}}, []string{"/root/.gradle/caches"}, ""},
		{Input{Runtime: "provided.al2023", BuildMethod: "go1.x", Files: []string{"go.mod", "main.go"}}, []string{"/var/cache/dindbundler/go-mod", "/var/cache/dindbundler/go-build"}, "export GOMODCACHE=/var/cache/dindbundler/go-mod GOCACHE=/var/cache/dindbundler/go-build && "},
		{Input{Runtime: "provided.al2023", BuildMethod: "rust-cargolambda", Files: []string{"Cargo.toml", "src/"}}, []string{"/root/.cargo/registry", "/root/.cargo/git"}, ""},
		{Input{Runtime: "dotnet8", Files: []string{"Fn.csproj"}}, []string{"/var/cache/dindbundler/nuget"}, "export NUGET_PACKAGES=/var/cache/dindbundler/nuget && "},
		{Input{Runtime: "ruby3.3", Files: []string{"Gemfile"}}, []string{"/var/cache/dindbundler/bundler"}, "export BUNDLE_USER_CACHE=/var/cache/dindbundler/bundler && "},
	}
	for _, tt := range tests {
		t.Run(tt.in.Runtime+" "+strings.Join(tt.in.Files, ","), func(t *testing.T) {
			is := is.New(t)
			tt.in.Name = "Fn"
			p, err := Choose(tt.in)
			is.NoErr(err)
			classic, bk := p.Stage("build-task", "task", "build/task"), p.StageBuildKit("build-task", "task", "build/task")
			is.True(!strings.Contains(classic, "--mount"))
			var flags []string
			for _, m := range p.CacheMounts() {
				is.True(strings.HasPrefix(m.ID, "dindbundler-")) // one cache per tool, whatever the function
				flags = append(flags, "--mount=type=cache,id="+m.ID+",target="+m.Target+",sharing=locked")
			}
			var targets []string
			for _, m := range p.CacheMounts() {
				targets = append(targets, m.Target)
			}
			is.Equal(targets, tt.mounts)
			prefix := "RUN " + strings.Join(flags, " ") + " " + tt.env
			runs := 0
			for _, line := range strings.Split(bk, "\n") {
				if strings.HasPrefix(line, "RUN ") {
					is.True(strings.HasPrefix(line, prefix)) // every step that installs or builds
					runs++
				}
			}
			is.True(runs > 0)
			is.Equal(strings.ReplaceAll(bk, prefix, "RUN "), classic) // otherwise the same steps
		})
	}
}

// What sam build leaves out of copied code, per runtime and build method.
func TestExcludedFiles(t *testing.T) {
	for _, tc := range []struct {
		runtime, method string
		has, hasNot     []string
	}{
		{"python3.12", "", []string{".git", ".aws-sam", "__pycache__", "*.pyc", ".venv", ".env", ".pytest_cache"}, []string{"node_modules"}},
		{"python3.13", "python3.13", []string{".git", "__pycache__"}, nil},
		{"nodejs20.x", "", []string{".git", ".aws-sam"}, []string{"node_modules", "__pycache__", ".env"}},
		{"nodejs20.x", "esbuild", []string{".git", ".aws-sam", "node_modules"}, []string{"__pycache__"}},
		{"java21", "", []string{".git", ".aws-sam"}, []string{".env", "node_modules"}},
		{"provided.al2023", "makefile", []string{".git", ".aws-sam"}, []string{"__pycache__"}},
		{"provided.al2023", "go1.x", []string{".git", ".aws-sam"}, []string{"__pycache__"}},
	} {
		t.Run(tc.runtime+"/"+tc.method, func(t *testing.T) {
			got := ExcludedFiles(tc.runtime, tc.method)
			for _, want := range tc.has {
				if !slices.Contains(got, want) {
					t.Errorf("ExcludedFiles(%q, %q) = %q lacks %q", tc.runtime, tc.method, got, want)
				}
			}
			for _, not := range tc.hasNot {
				if slices.Contains(got, not) {
					t.Errorf("ExcludedFiles(%q, %q) = %q holds %q", tc.runtime, tc.method, got, not)
				}
			}
		})
	}
}
