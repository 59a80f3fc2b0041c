package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// Two Image functions on one Dockerfile differ as in AWS: each image carries its own Environment
// and ImageConfig, appended to the user's Dockerfile.
func TestPlanImageFunctionSettings(t *testing.T) {
	is := is.New(t)
	fn := func(name, cmd string) sam.Function {
		return sam.Function{
			LogicalID: name, Name: name, PackageType: sam.PackageImage, Architecture: "arm64",
			DockerContext: "/proj/app", Dockerfile: "Dockerfile",
			Environment:  map[string]string{"TABLE": "Orders", "URL": "${API_URL}"},
			ImageCommand: []string{cmd}, ImageEntryPoint: []string{"/lambda-entrypoint.sh"}, ImageWorkingDirectory: "/var/task",
		}
	}
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{fn("Orders", "app.orders"), fn("Users", "app.users")}}, nil, baseReq())
	is.NoErr(err)
	is.Equal(len(p.Images), 2)
	is.Equal(p.Images[0].DockerfileText, "") // the user's Dockerfile, with an appendix
	is.Equal(p.Images[0].Platform, "linux/arm64")
	is.Equal(p.Images[0].DockerfileAppend, `# Added for function Orders: its Environment and ImageConfig, as Lambda applies them.
ENV TABLE="Orders"
ENV URL="\${API_URL}"
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.orders"]
`)
	is.True(strings.HasSuffix(p.Images[1].DockerfileAppend, "CMD [\"app.users\"]\n"))

	bare := sam.Function{LogicalID: "B", Name: "B", PackageType: sam.PackageImage, DockerContext: "/proj/app", Dockerfile: "Dockerfile"}
	p, err = Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{bare}}, nil, baseReq())
	is.NoErr(err)
	is.Equal(p.Images[0].DockerfileAppend, "") // nothing to add: the Dockerfile is used as written
}

func TestPlanSingleFileCodeAndPublishedLayer(t *testing.T) {
	is := is.New(t)
	arn := "arn:aws:lambda:us-east-1:017000801446:layer:Powertools:7"
	fn := sam.Function{
		LogicalID: "F", Name: "F", PackageType: sam.PackageZip, Architecture: "x86_64", Runtime: "python3.14", Handler: "app.handler",
		CodeURI: "/proj/src/app.py", CodeKind: sam.CodeFile,
		Layers: []sam.Layer{{ARN: arn, Name: arn, ContentURI: "/vendor/powertools"}},
	}
	tpl := &sam.Template{Dir: "/proj", Functions: []sam.Function{fn}, Warnings: []string{"1 value(s) need a deployed stack"}}
	p, err := Plan(tpl, nil, baseReq())
	is.NoErr(err)
	is.Equal(p.Images[0].Context, []ContextEntry{
		{Kind: EntryDir, Source: "/vendor/powertools", Target: "layers/1", ExcludeNames: []string{".aws-sam", ".git"}},
		{Kind: EntryFile, Source: "/proj/src/app.py", Target: "task/app.py"},
	})
	is.True(strings.Contains(p.Images[0].DockerfileText, "FROM public.ecr.aws/lambda/python:3.14-x86_64\n"))
	is.Equal(p.Warnings, []string{"1 value(s) need a deployed stack"}) // the template's warnings reach the plan
	is.Equal(LayerLabel(fn.Layers[0]), arn)
}

func TestWriteContextAppendsToTheUsersDockerfile(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"docker/Dockerfile.lambda": "FROM scratch\nCMD [\"app.default\"]", // no final newline
		"app.py":                   "x = 1\n",
	})
	b := ImageBuild{
		Name: "esb-orders:latest", Kind: "function", For: "Orders", Dockerfile: "docker/Dockerfile.lambda",
		DockerfileAppend: "CMD [\"app.orders\"]\n",
		Context:          []ContextEntry{{Kind: EntryDir, Source: dir, DockerIgnore: true}},
	}
	var buf bytes.Buffer
	is.NoErr(writeContext(&buf, b, ""))
	files, _ := readTar(t, buf.Bytes()) // readTar fails on a path written twice
	is.Equal(files["docker/Dockerfile.lambda"], "FROM scratch\nCMD [\"app.default\"]\nCMD [\"app.orders\"]\n")
	is.Equal(files["app.py"], "x = 1\n")
	orig, err := os.ReadFile(filepath.Join(dir, "docker/Dockerfile.lambda"))
	is.NoErr(err)
	is.Equal(string(orig), "FROM scratch\nCMD [\"app.default\"]") // the user's file is untouched
}

func TestWriteFunctionPlans(t *testing.T) {
	is := is.New(t)
	tpl := &sam.Template{Dir: "/proj", Functions: []sam.Function{pyFunc(),
		{LogicalID: "Img", Name: "Img", PackageType: sam.PackageImage, Architecture: "arm64", DockerContext: "/proj/img", Dockerfile: "Dockerfile"}},
		Warnings: []string{"1 value(s) need a deployed stack"}}
	p, err := Plan(tpl, nil, baseReq())
	is.NoErr(err)
	var buf bytes.Buffer
	WriteFunctionPlans(&buf, tpl, p, "  ")
	is.Equal(buf.String(), `  function Dev-Hello → esb-dev-hello:latest (x86_64): python3.12 on public.ecr.aws/lambda/python:3.12-x86_64, handler app.handler, code functions/hello, layers CommonLayer=layers/common, ZipLayer=layers/extra.zip
  function Img → esb-img:latest (arm64): from Dockerfile Dockerfile in img
  warning: 1 value(s) need a deployed stack
`)
}
