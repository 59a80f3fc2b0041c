package embedded

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// TestPlanBuildStages: a function with requirements.txt and a layer with a BuildMethod get build
// stages in front of the image; the image takes their outputs, then the code.
func TestPlanBuildStages(t *testing.T) {
	is := is.New(t)
	fn := sam.Function{
		LogicalID: "Hello", Name: "Hello", PackageType: sam.PackageZip, Architecture: "x86_64",
		Runtime: "nodejs20.x", Handler: "index.handler", CodeURI: "/proj/hello", CodeKind: sam.CodeDir,
		Layers: []sam.Layer{
			{LogicalID: "Plain", ContentURI: "/proj/plain"},
			{LogicalID: "Deps", ContentURI: "/proj/deps", BuildMethod: "nodejs20.x"},
		},
	}
	req := baseReq()
	req.CodeFiles = map[string][]string{
		"/proj/hello": {"index.js", "package.json", "package-lock.json", "node_modules/"},
		"/proj/plain": {"nodejs/"},
		"/proj/deps":  {"package.json"},
	}
	req.Vars = map[string]string{"BUILD_IMAGE_NODEJS20_X": "builders-standin:node", "NPM_CONFIG_REGISTRY": "https://npm.internal/"}
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, req)
	is.NoErr(err)
	b := p.Images[0]
	is.Equal(b.DockerfileText, `# Generated for function Hello (nodejs20.x): code in /var/task, layers in /opt, as Lambda lays them out.
# Build stage: nodejs-npm in builders-standin:node (override with BUILD_IMAGE_NODEJS20_X).
FROM builders-standin:node AS build-layers-2
ARG NPM_CONFIG_REGISTRY
WORKDIR /build/src
COPY ["layers/2/package.json", "./"]
RUN mkdir -p /build/deps /build/out && npm install --no-audit --no-fund --no-save --no-package-lock --omit=dev && mkdir -p node_modules
# Build stage: nodejs-npm in builders-standin:node (override with BUILD_IMAGE_NODEJS20_X).
FROM builders-standin:node AS build-task
ARG NPM_CONFIG_REGISTRY
WORKDIR /build/src
COPY ["task/package.json", "./"]
COPY ["task/package-lock.json", "./"]
RUN mkdir -p /build/deps /build/out && npm ci --no-audit --no-fund --omit=dev && mkdir -p node_modules
FROM public.ecr.aws/lambda/nodejs:20-x86_64
COPY layers/1/ /opt/
COPY --from=build-layers-2 /build/src/node_modules/ /opt/nodejs/node_modules/
COPY layers/2/ /opt/nodejs/
COPY --from=build-task /build/src/node_modules/ /var/task/node_modules/
COPY task/ /var/task/
CMD ["index.handler"]
`)
	is.Equal(b.Context[2].Target, "task")
	is.Equal(b.Context[2].Exclude, []string{"/proj/hello/node_modules"}) // the local node_modules stays out
	is.Equal(b.Context[1].Exclude, []string{"/proj/deps/node_modules"})
	is.Equal(b.BuildArgs, map[string]string{"NPM_CONFIG_REGISTRY": "https://npm.internal/"})
	is.Equal(b.Builders, "nodejs-npm for layers/2 in builders-standin:node; nodejs-npm for task in builders-standin:node")
}

// TestPlanBuildersSkipAndRefuse: `sam build` output is taken as it is; unlisted directories
// (Plan called without ScanCode) plan no build; a function no builder fits stops the plan.
func TestPlanBuildersSkipAndRefuse(t *testing.T) {
	is := is.New(t)
	fn := pyFunc()
	fn.Layers = nil
	fn.CodeURI = "/proj/.aws-sam/build/HelloFunction"
	req := baseReq()
	req.CodeFiles = map[string][]string{fn.CodeURI: {"app.py", "requirements.txt", "requests/"}}
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, req)
	is.NoErr(err)
	is.True(!strings.Contains(p.Images[0].DockerfileText, "AS build-")) // no build stage for sam build output

	fn = pyFunc()
	fn.Layers = nil
	p, err = Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, baseReq())
	is.NoErr(err)
	is.True(!strings.Contains(p.Images[0].DockerfileText, "AS build-"))

	req.CodeFiles = map[string][]string{fn.CodeURI: {"app.py", "Pipfile"}}
	p, err = Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, req)
	is.NoErr(err)
	is.Equal(len(p.Warnings), 1)
	is.True(strings.Contains(p.Warnings[0], "function HelloFunction (python3.12) declares dependencies in Pipfile but has no requirements.txt"))

	fn.BuildMethod = "makefile"
	_, err = Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, req)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "function HelloFunction: Metadata.BuildMethod makefile needs a Makefile"))
}

// TestBuiltTemplate: .aws-sam/build/template.yaml is used only when newer than the template.
func TestBuiltTemplate(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "template.yaml")
	writeFiles(t, dir, map[string]string{"template.yaml": "x", ".aws-sam/build/template.yaml": "y"})
	built := filepath.Join(dir, ".aws-sam", "build", "template.yaml")
	old := time.Now().Add(-time.Hour)
	is.NoErr(os.Chtimes(tpl, old, old))
	path, note := builtTemplate(tpl)
	is.Equal(path, built)
	is.True(strings.Contains(note, "using `sam build` output"))

	is.NoErr(os.Chtimes(built, old.Add(-time.Hour), old.Add(-time.Hour)))
	path, note = builtTemplate(tpl)
	is.Equal(path, tpl)
	is.True(strings.Contains(note, "is older than"))

	path, note = builtTemplate(filepath.Join(t.TempDir(), "template.yaml"))
	is.True(note == "" && strings.HasSuffix(path, "template.yaml"))
}

func TestTailWriter(t *testing.T) {
	is := is.New(t)
	tw := &tailWriter{max: 2}
	_, _ = tw.Write([]byte("one\ntwo\n\nthr"))
	_, _ = tw.Write([]byte("ee\nfour"))
	is.Equal(tw.String(), "three\nfour")
	_, _ = tw.Write([]byte("\n\x1b[91mERROR: no match\x1b[0m\n"))
	is.Equal(tw.String(), "four\nERROR: no match") // colours dropped
}

// TestInputsCoverBuilds: Deploy's inputs hold the code directories (so their lock files and
// manifests) and the `sam build` template once it exists; the dry-run line names the builders.
func TestInputsCoverBuilds(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml": `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: index.handler, Runtime: nodejs20.x}
`,
		"fn/index.js": "", "fn/package.json": "{}", "fn/package-lock.json": "{}",
	})
	req := resolvedRequest(filepath.Join(dir, "template.yaml"), "dev", dir)
	inputs, err := Inputs(req)
	is.NoErr(err)
	is.True(slices.Contains(inputs, filepath.Join(dir, "fn"))) // the code directory, lock file included

	tpl, plan, err := PlanRequest(req)
	is.NoErr(err)
	var out strings.Builder
	WriteFunctionPlans(&out, tpl, plan, "")
	is.True(strings.Contains(out.String(), ", built by nodejs-npm for task in public.ecr.aws/sam/build-nodejs20.x:latest-x86_64"))

	writeFiles(t, dir, map[string]string{".aws-sam/build/template.yaml": "Resources: {}\n"})
	old := time.Now().Add(-time.Hour)
	is.NoErr(os.Chtimes(filepath.Join(dir, ".aws-sam/build/template.yaml"), old, old)) // older: not used, still watched
	inputs, err = Inputs(req)
	is.NoErr(err)
	is.True(slices.Contains(inputs, filepath.Join(dir, ".aws-sam/build/template.yaml")))
}

// TestPlanLayerBuildArchitecture: a layer's Metadata.BuildArchitecture picks its build image's
// architecture; the function's own code follows the function's.
func TestPlanLayerBuildArchitecture(t *testing.T) {
	is := is.New(t)
	fn := pyFunc()
	fn.Layers = []sam.Layer{{LogicalID: "Lib", ContentURI: "/proj/lib", BuildMethod: "python3.12", BuildArchitecture: "arm64"}}
	req := baseReq()
	req.CodeFiles = map[string][]string{"/proj/lib": {"requirements.txt"}, fn.CodeURI: {"app.py", "requirements.txt"}}
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn}}, nil, req)
	is.NoErr(err)
	is.Equal(p.Images[0].Builders, "python-pip for layers/1 in public.ecr.aws/sam/build-python3.12:latest-arm64; python-pip for task in public.ecr.aws/sam/build-python3.12:latest-x86_64")
}
