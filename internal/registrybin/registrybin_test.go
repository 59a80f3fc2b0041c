package registrybin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/source"
)

func TestKey(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	write := func(name, content string) {
		is.NoErr(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("main.go", "package main")
	write("other.go", "package main // not built")
	own := Pkg{ImportPath: Module + "/cmd/x", Dir: dir, Files: []string{"main.go"}}
	dep := Pkg{ImportPath: "golang.org/x/y", Dir: "/nonexistent", Version: "golang.org/x/y@v1.0.0", Files: []string{"y.go"}}
	env := []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}
	key := func(version string, env []string, pkgs ...Pkg) string {
		k, err := Key(version, env, pkgs)
		is.NoErr(err)
		return k
	}
	base := key("go1.25.0", env, own, dep)
	is.Equal(base, key("go1.25.0", env, dep, own)) // package order does not matter
	is.True(len(base) == 64)

	cases := []struct {
		name string
		key  func() string
		same bool
	}{
		{"another Go version", func() string { return key("go1.25.1", env, own, dep) }, false},
		{"another architecture", func() string {
			return key("go1.25.0", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, own, dep)
		}, false},
		{"another module version", func() string {
			d := dep
			d.Version = "golang.org/x/y@v1.0.1"
			return key("go1.25.0", env, own, d)
		}, false},
		{"a file not built changes", func() string { write("other.go", "package main // changed"); return key("go1.25.0", env, own, dep) }, true},
		{"a built file changes", func() string { write("main.go", "package main // changed"); return key("go1.25.0", env, own, dep) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(tc.key() == base, tc.same)
		})
	}

	write("main.go", "package main")
	_, err := Key("go1.25.0", env, []Pkg{{ImportPath: Module + "/gone", Dir: dir, Files: []string{"gone.go"}}})
	is.True(err != nil) // a listed file that cannot be read fails the key
}

func TestParseList(t *testing.T) {
	is := is.New(t)
	pkgs, err := parseList("a/b\t/src/b\t\tb.go,c.go\tdata.txt\nx/y\t/mod/y\tx/y@v1.2.3\ty.go\t\n\n")
	is.NoErr(err)
	is.Equal(pkgs, []Pkg{
		{ImportPath: "a/b", Dir: "/src/b", Files: []string{"b.go", "c.go", "data.txt"}},
		{ImportPath: "x/y", Dir: "/mod/y", Version: "x/y@v1.2.3", Files: []string{"y.go"}},
	})
	_, err = parseList("a/b only\n")
	is.True(err != nil)
}

func TestPlatformEnv(t *testing.T) {
	is := is.New(t)
	env, err := Platform{Arch: "arm", Variant: "v7"}.env()
	is.NoErr(err)
	is.Equal(env, []string{"GOOS=linux", "GOARCH=arm", "CGO_ENABLED=0", "GOARM=7"})
	env, err = Platform{Arch: "arm64", Variant: "v8"}.env()
	is.NoErr(err)
	is.Equal(env, []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"})
	_, err = Platform{}.env()
	is.True(err != nil)
}

// TestEnsure builds a small command of this module with the real go command: a static binary,
// kept by its key; the second call builds nothing and says nothing.
func TestEnsure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	var lines []string
	r := Request{
		Package: Module + "/dind/dindtest/testdata/echo", WorkDir: root, CacheDir: t.TempDir(),
		Platform: Platform{Arch: "amd64"},
		Logf:     func(format string, args ...any) { lines = append(lines, format) },
	}
	ctx := context.Background()
	first, err := Ensure(ctx, r)
	is.NoErr(err)
	is.Equal(len(lines), 1) // one line when built
	is.True(strings.HasPrefix(first.Path, r.CacheDir))
	is.True(strings.Contains(first.Path, first.Key))
	if out, err := exec.Command("file", first.Path).Output(); err == nil {
		is.True(strings.Contains(string(out), "statically linked")) // CGO_ENABLED=0
	}

	started := time.Now()
	again, err := Ensure(ctx, r)
	is.NoErr(err)
	t.Logf("cached: %v", time.Since(started))
	is.Equal(again, first)
	is.Equal(len(lines), 1) // nothing printed when cached
}

// TestModuleDirOutsideAnyModule: `go run magefile.go -w /elsewhere` runs the targets in a
// project that is no Go module; the source is then found where this package was compiled from.
func TestModuleDirOutsideAnyModule(t *testing.T) {
	is := is.New(t)
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	dir, err := moduleDir(context.Background(), elsewhere)
	is.NoErr(err)
	_, err = os.Stat(filepath.Join(dir, "internal", "registrybin", "registrybin.go"))
	is.NoErr(err) // this module's source
}
