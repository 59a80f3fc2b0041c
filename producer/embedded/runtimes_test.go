package embedded

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

// The base image follows the runtime's family and version, as `sam local` names them
// (public.ecr.aws/lambda/<family>:<version>-<arch>), so runtimes newer than this code work.
func TestDefaultRuntimeBase(t *testing.T) {
	tests := []struct {
		runtime, arch, want string
	}{
		{"python3.8", "x86_64", "public.ecr.aws/lambda/python:3.8-x86_64"},
		{"python3.14", "arm64", "public.ecr.aws/lambda/python:3.14-arm64"},
		{"python3.15", "", "public.ecr.aws/lambda/python:3.15-x86_64"}, // not released yet: the rule still holds
		{"nodejs24.x", "x86_64", "public.ecr.aws/lambda/nodejs:24-x86_64"},
		{"nodejs26.x", "arm64", "public.ecr.aws/lambda/nodejs:26-arm64"},
		{"java25", "arm64", "public.ecr.aws/lambda/java:25-arm64"},
		{"java8.al2", "x86_64", "public.ecr.aws/lambda/java:8.al2-x86_64"},
		{"java17.al2023", "x86_64", "public.ecr.aws/lambda/java:17.al2023-x86_64"},
		{"dotnet10", "x86_64", "public.ecr.aws/lambda/dotnet:10-x86_64"},
		{"dotnet8", "arm64", "public.ecr.aws/lambda/dotnet:8-arm64"},
		{"dotnetcore3.1", "x86_64", "public.ecr.aws/lambda/dotnet:core3.1-x86_64"},
		{"ruby3.4", "x86_64", "public.ecr.aws/lambda/ruby:3.4-x86_64"},
		{"ruby4.0", "arm64", "public.ecr.aws/lambda/ruby:4.0-arm64"},
		{"provided", "x86_64", "public.ecr.aws/lambda/provided:alami"},
		{"provided.al2", "arm64", "public.ecr.aws/lambda/provided:al2-arm64"},
		{"provided.al2023", "x86_64", "public.ecr.aws/lambda/provided:al2023-x86_64"},
		{"go1.x", "x86_64", "public.ecr.aws/lambda/go:1"},
	}
	for _, tt := range tests {
		t.Run(tt.runtime+"/"+tt.arch, func(t *testing.T) {
			is := is.New(t)
			got, ok := DefaultRuntimeBase(tt.runtime, tt.arch)
			is.True(ok)
			is.Equal(got, tt.want)
		})
	}
	for _, bad := range []string{"cobol9", "python", "python2.7x", "nodejs24", "rust1.x", "provided.al", "provided.al2023023", "java8.al3", ""} {
		_, ok := DefaultRuntimeBase(bad, "x86_64")
		if ok {
			t.Errorf("runtime %q: want no known family", bad)
		}
	}
}

func TestRuntimeBaseUnknownFamilyNamesTheVariable(t *testing.T) {
	is := is.New(t)
	_, err := runtimeBase("deno2", "x86_64", Request{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "RUNTIME_BASE_DENO2")) // says what to set
	got, err := runtimeBase("deno2", "x86_64", Request{Vars: map[string]string{"RUNTIME_BASE_DENO2": "my/deno:2"}})
	is.NoErr(err)
	is.Equal(got, "my/deno:2")
}
