package embedded

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dindbundler/dindbundler/producer/builders"
)

// lambdaRepo is where AWS publishes the Lambda base images (aws/aws-lambda-base-images).
const lambdaRepo = "public.ecr.aws/lambda"

// Runtime families and how a runtime's version becomes the image tag. The rule, not a table,
// so a runtime released after this code (python3.15, nodejs26.x, java29) works the day it
// appears. It follows `sam local` (samcli/local/docker/lambda_image.py, get_image_name_tag):
// python3.14 → python:3.14, nodejs24.x → nodejs:24, java8.al2 → java:8.al2, dotnet10 →
// dotnet:10, ruby3.4 → ruby:3.4, provided.al2023 → provided:al2023, provided → provided:alami.
var runtimeFamilies = []struct {
	re     *regexp.Regexp
	family string
}{
	{regexp.MustCompile(`^python(3\.[0-9]+)$`), "python"},
	{regexp.MustCompile(`^nodejs([0-9]+)\.x$`), "nodejs"},
	{regexp.MustCompile(`^java([0-9]+(?:\.al(?:2|20[0-9][0-9]))?)$`), "java"},
	{regexp.MustCompile(`^dotnet([0-9]+)$`), "dotnet"},
	{regexp.MustCompile(`^dotnet(core[0-9]+\.[0-9]+)$`), "dotnet"}, // retired dotnetcore3.1 → dotnet:core3.1
	{regexp.MustCompile(`^ruby([0-9]+\.[0-9]+)$`), "ruby"},
	{regexp.MustCompile(`^provided\.(al(?:2|20[0-9][0-9]))$`), "provided"},
}

// DefaultRuntimeBase is the public AWS Lambda base image of a managed runtime for an
// architecture (x86_64 or arm64): public.ecr.aws/lambda/<family>:<version>-<arch>. The tag names
// the architecture, as `sam local` does, so x86_64 and arm64 functions of one runtime get
// distinct base images in the local engine. provided (Amazon Linux 1) exists for x86_64 only and
// and go1.x (both retired, x86_64 only) have no architecture in their tags. ok is false for a runtime of no known family.
func DefaultRuntimeBase(runtime, arch string) (string, bool) {
	if arch == "" {
		arch = "x86_64"
	}
	switch runtime {
	case "provided":
		return lambdaRepo + "/provided:alami", true
	case "go1.x":
		return lambdaRepo + "/go:1", true // deprecated, x86_64 only
	}
	for _, f := range runtimeFamilies {
		if m := f.re.FindStringSubmatch(runtime); m != nil {
			return fmt.Sprintf("%s/%s:%s-%s", lambdaRepo, f.family, m[1], arch), true
		}
	}
	return "", false
}

// RuntimeVariable names the variable that points runtime at another base image:
// RUNTIME_BASE_ and the runtime upper-cased with every other character an underscore
// (python3.12 → RUNTIME_BASE_PYTHON3_12).
func RuntimeVariable(runtime string) string {
	return "RUNTIME_BASE_" + runtimeSuffix(runtime)
}

func runtimeSuffix(runtime string) string { return builders.VariableSuffix(runtime) }

// runtimeBase returns the base image of runtime on arch: the variable RUNTIME_BASE_<RUNTIME> in
// req.Vars wins, then req.RuntimeBases (keyed by runtime or by variable suffix), then the public
// AWS image the family rule gives.
func runtimeBase(runtime, arch string, req Request) (string, error) {
	variable := RuntimeVariable(runtime)
	if v := strings.TrimSpace(req.Vars[variable]); v != "" {
		return v, nil
	}
	for _, k := range []string{runtime, runtimeSuffix(runtime)} {
		if v := strings.TrimSpace(req.RuntimeBases[k]); v != "" {
			return v, nil
		}
	}
	if v, ok := DefaultRuntimeBase(runtime, arch); ok {
		return v, nil
	}
	return "", fmt.Errorf("runtime %q is of no known family (python3.N, nodejsN.x, javaN, java8.al2, dotnetN, dotnetcoreN.M, rubyN.M, provided, provided.alN, go1.x): set %s to a local image that runs it", runtime, variable)
}

// inlineFile is the file Lambda writes InlineCode (ZipFile) to: CloudFormation supports inline
// code only for Node.js and Python, always as index.<ext>.
func inlineFile(runtime string) (string, bool) {
	switch {
	case strings.HasPrefix(runtime, "python"):
		return "index.py", true
	case strings.HasPrefix(runtime, "nodejs"):
		return "index.js", true
	}
	return "", false
}
