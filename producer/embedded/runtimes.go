package embedded

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultRuntimeBases are the public AWS Lambda base images of the managed runtimes: the images
// `sam build --use-container` and Lambda itself run Zip functions on.
var DefaultRuntimeBases = map[string]string{
	"python3.8":       "public.ecr.aws/lambda/python:3.8",
	"python3.9":       "public.ecr.aws/lambda/python:3.9",
	"python3.10":      "public.ecr.aws/lambda/python:3.10",
	"python3.11":      "public.ecr.aws/lambda/python:3.11",
	"python3.12":      "public.ecr.aws/lambda/python:3.12",
	"python3.13":      "public.ecr.aws/lambda/python:3.13",
	"nodejs16.x":      "public.ecr.aws/lambda/nodejs:16",
	"nodejs18.x":      "public.ecr.aws/lambda/nodejs:18",
	"nodejs20.x":      "public.ecr.aws/lambda/nodejs:20",
	"nodejs22.x":      "public.ecr.aws/lambda/nodejs:22",
	"java8.al2":       "public.ecr.aws/lambda/java:8.al2",
	"java11":          "public.ecr.aws/lambda/java:11",
	"java17":          "public.ecr.aws/lambda/java:17",
	"java21":          "public.ecr.aws/lambda/java:21",
	"dotnet6":         "public.ecr.aws/lambda/dotnet:6",
	"dotnet8":         "public.ecr.aws/lambda/dotnet:8",
	"ruby3.2":         "public.ecr.aws/lambda/ruby:3.2",
	"ruby3.3":         "public.ecr.aws/lambda/ruby:3.3",
	"ruby3.4":         "public.ecr.aws/lambda/ruby:3.4",
	"provided":        "public.ecr.aws/lambda/provided:alami",
	"provided.al2":    "public.ecr.aws/lambda/provided:al2",
	"provided.al2023": "public.ecr.aws/lambda/provided:al2023",
}

// RuntimeVariable names the variable that points runtime at another base image:
// RUNTIME_BASE_ and the runtime upper-cased with every other character an underscore
// (python3.12 → RUNTIME_BASE_PYTHON3_12).
func RuntimeVariable(runtime string) string {
	return "RUNTIME_BASE_" + runtimeSuffix(runtime)
}

func runtimeSuffix(runtime string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		default:
			return '_'
		}
	}, runtime)
}

// runtimeBase returns the base image of runtime: the variable RUNTIME_BASE_<RUNTIME> in
// req.Vars wins, then req.RuntimeBases (keyed by runtime or by variable suffix), then the
// public AWS image.
func runtimeBase(runtime string, req Request) (string, error) {
	variable := RuntimeVariable(runtime)
	if v := strings.TrimSpace(req.Vars[variable]); v != "" {
		return v, nil
	}
	for _, k := range []string{runtime, runtimeSuffix(runtime)} {
		if v := strings.TrimSpace(req.RuntimeBases[k]); v != "" {
			return v, nil
		}
	}
	if v, ok := DefaultRuntimeBases[runtime]; ok {
		return v, nil
	}
	return "", fmt.Errorf("no base image is known for runtime %q: set %s to an image that runs it (known runtimes: %s)", runtime, variable, strings.Join(slices.Sorted(maps.Keys(DefaultRuntimeBases)), ", "))
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
