package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/embedded"
	"github.com/matryer/is"
)

func TestParseArgs(t *testing.T) {
	contract := []string{"deploy", "--template", "t.yaml", "--env", "dev", "--mode", "docker", "--build-only", "--bundle-manifest"}
	without := func(flag string, n int) []string {
		var out []string
		for i := 0; i < len(contract); i++ {
			if contract[i] == flag {
				i += n - 1
				continue
			}
			out = append(out, contract[i])
		}
		return out
	}
	tests := []struct {
		name string
		args []string
		want config.Flags
		err  string
	}{
		{name: "contract", args: contract, want: config.Flags{Template: "t.yaml", Env: "dev"}},
		{name: "with output", args: append(contract, "--output", "/out"), want: config.Flags{Template: "t.yaml", Env: "dev", Output: "/out"}},
		{name: "single dash and = forms", args: []string{"deploy", "-template=t.yaml", "-env=dev", "-mode=docker", "-build-only", "-bundle-manifest"}, want: config.Flags{Template: "t.yaml", Env: "dev"}},
		{name: "no command", args: nil, err: "no command given"},
		{name: "unknown command", args: []string{"package"}, err: `unknown command "package"`},
		{name: "unknown flag", args: append(contract, "--region", "x"), err: "flag provided but not defined: -region"},
		{name: "missing template", args: without("--template", 2), err: "--template is required"},
		{name: "missing env", args: without("--env", 2), err: "--env is required"},
		{name: "missing mode", args: without("--mode", 2), err: "--mode is required"},
		{name: "other mode", args: []string{"deploy", "--template", "t", "--env", "e", "--mode", "containerd", "--build-only", "--bundle-manifest"}, err: `--mode "containerd" is not supported`},
		{name: "not build-only", args: without("--build-only", 1), err: "--build-only is required"},
		{name: "no bundle manifest", args: without("--bundle-manifest", 1), err: "--bundle-manifest is required"},
		{name: "extra argument", args: append(contract, "extra"), err: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := parseArgs(tt.args, io.Discard)
			if tt.err != "" {
				is.True(err != nil) // want an error
				is.True(strings.Contains(err.Error(), tt.err))
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestRunUsage(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"deploy", "--env", "x"}, nil, &stdout, &stderr)
	is.Equal(code, 2)
	is.True(strings.Contains(stderr.String(), "--template is required"))
	is.True(strings.Contains(stderr.String(), "usage: dindbundler-producer deploy --template T"))

	stdout.Reset()
	is.Equal(run(context.Background(), []string{"--help"}, nil, &stdout, &stderr), 0)
	is.True(strings.HasPrefix(stdout.String(), "usage:"))
}

func TestResolve(t *testing.T) {
	write := func(t *testing.T, dir, name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		files   map[string]string
		environ []string
		check   func(is *is.I, dir string, r embedded.Request)
		err     string
	}{
		{
			name:  "defaults: no files",
			files: map[string]string{},
			check: func(is *is.I, dir string, r embedded.Request) {
				is.Equal(r.Brand, "esb")
				is.Equal(r.ComposeFile, "")
				is.Equal(r.ProjectRoot, dir)
				is.Equal(len(r.ParameterOverrides), 0)
				is.Equal(r.Project, "esb-dev") // <brand>-<the --env flag>
				is.Equal(r.Template, filepath.Join(dir, "t.yaml"))
				is.Equal(r.OutputRoot, filepath.Join(dir, ".esb"))
				is.Equal(r.ManifestPath(), filepath.Join(dir, ".esb", "dev", "bundle", "manifest.json"))
			},
		},
		{
			name:    "the bundler's variables for the same things are not the command's",
			environ: []string{"ESB_ENV=prod", "TEMPLATE=a.yaml,b.yaml", "ESB_OUTPUT_DIR=out", "BUNDLE_MANIFEST_PATH=m.json"},
			check: func(is *is.I, dir string, r embedded.Request) {
				is.Equal(r.Env, "dev")
				is.Equal(r.Project, "esb-dev")
				is.Equal(r.Template, filepath.Join(dir, "t.yaml"))
				is.Equal(r.ManifestPath(), filepath.Join(dir, ".esb", "dev", "bundle", "manifest.json"))
			},
		},
		{
			name: "dotenv overlaid by the environment, brand, compose default",
			files: map[string]string{
				".env":                "# comment\nA=from-dotenv\nB=\"quoted value\"\nexport C='single'\nD=x # trailing comment\n",
				"config/defaults.env": "CLI_CMD=Acme\n",
				"docker-compose.yml":  "services: {}\n",
			},
			environ: []string{"A=from-env", "PARAMETER_OVERRIDES=Stage=prod", "IMAGE_TAG=v1", "IMAGE_PREFIX=shop", "PROJECT_NAME=p1"},
			check: func(is *is.I, dir string, r embedded.Request) {
				is.Equal(r.Brand, "acme")
				is.Equal(r.Vars["A"], "from-env")
				is.Equal(r.Vars["B"], "quoted value")
				is.Equal(r.Vars["C"], "single")
				is.Equal(r.Vars["D"], "x")
				is.Equal(r.ComposeFile, filepath.Join(dir, "docker-compose.yml"))
				is.Equal(r.ParameterOverrides, map[string]string{"Stage": "prod"})
				is.Equal(r.ImageTag, "v1")
				is.Equal(r.ImagePrefix, "shop")
				is.Equal(r.Project, "p1")
			},
		},
		{
			name:  "docker-compose.docker.yml wins",
			files: map[string]string{"docker-compose.yml": "", "docker-compose.docker.yml": ""},
			check: func(is *is.I, dir string, r embedded.Request) {
				is.Equal(r.ComposeFile, filepath.Join(dir, "docker-compose.docker.yml"))
			},
		},
		{
			name:    "COMPOSE_FILE and DEFAULTS_FILE",
			files:   map[string]string{"brand.env": "CLI_CMD=zz\n"},
			environ: []string{"COMPOSE_FILE=stack/compose.yaml", "DEFAULTS_FILE=brand.env"},
			check: func(is *is.I, dir string, r embedded.Request) {
				is.Equal(r.ComposeFile, filepath.Join(dir, "stack/compose.yaml"))
				is.Equal(r.Brand, "zz")
			},
		},
		{name: "bad .env", files: map[string]string{".env": "NOT A PAIR\n"}, err: "line 1: a variable name cannot contain a space"},
		{name: "bad overrides", environ: []string{"PARAMETER_OVERRIDES=a-b=1"}, err: "PARAMETER_OVERRIDES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			for n, c := range tt.files {
				write(t, dir, n, c)
			}
			r, err := resolve(config.Flags{Template: "t.yaml", Env: "dev"}, dir, tt.environ)
			if tt.err != "" {
				is.True(err != nil) // want an error
				is.True(strings.Contains(err.Error(), tt.err))
				return
			}
			is.NoErr(err)
			tt.check(is, dir, r)
		})
	}
}

// copyTree copies the example stack (with its compiled binaries) to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (rel == ".esb" || rel == "build") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommandOnExample builds the command and runs it with the producer contract in a copy of
// the example stack, the way the Deploy stage runs an external producer.
func TestCommandOnExample(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "dindbundler-producer")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build of the command: %s", time.Since(start).Round(time.Millisecond))

	src, err := filepath.Abs(filepath.Join("..", "..", "examples", "demo"))
	is.NoErr(err)
	env, err := demo.Prepare(ctx, api, src, nil)
	is.NoErr(err)
	stack := filepath.Join(t.TempDir(), "stack")
	copyTree(t, src, stack)

	// This checkout's names: another checkout may run this test on the same engine at once.
	prefix := enginetest.Unique("samdeploytestcmd")
	// The example's .env names CONTAINER_REGISTRY: function images are named under it.
	built := []string{"127.0.0.1:5010/" + prefix + "-dev-hello:cmd", "127.0.0.1:5010/" + prefix + "-greet:cmd", "127.0.0.1:5010/" + prefix + "-quote:cmd",
		"127.0.0.1:5010/" + prefix + "-report:cmd", "127.0.0.1:5010/" + prefix + "-thumbnail:cmd",
		prefix + "-agent:latest", prefix + "-gateway:latest", prefix + "-storage:latest"}
	enginetest.Cleanup(t, api, built...)

	cmd := exec.CommandContext(ctx, bin, "deploy", "--template", "template.yaml", "--env", "ci", "--mode", "docker", "--build-only", "--bundle-manifest")
	cmd.Dir = stack
	cmd.Env = append(os.Environ(), "IMAGE_PREFIX="+prefix, "IMAGE_TAG=cmd", "PROJECT_NAME="+prefix,
		"EXAMPLE_REGISTRY="+prefix+".invalid", "PARAMETER_OVERRIDES=")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start = time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("producer: %v\n%s", err, stderr.String())
	}
	t.Logf("producer command: %s", time.Since(start).Round(time.Millisecond))

	path := filepath.Join(stack, ".esb", "ci", "bundle", "manifest.json")
	is.Equal(strings.TrimSpace(stdout.String()), path) // the command prints where it wrote
	m, err := manifest.Read(path)
	is.NoErr(err)
	is.Equal(m.SchemaVersion, "1.0")
	is.Equal(m.Template.Path, "template.yaml") // outside git: relative to the working directory
	is.Equal(m.Build.Git, manifest.Git{})
	is.Equal(m.Build.Project, prefix)
	is.Equal(m.Build.Env, "ci")
	var names []string
	for _, img := range m.Images {
		names = append(names, img.Name)
		if img.Kind == manifest.KindExternal {
			is.Equal(img.Digest, "") // not local: left for the Pull stage
			continue
		}
		info, err := api.ImageInspect(ctx, img.Name)
		is.NoErr(err)
		is.Equal(img.Digest, info.ID)
	}
	is.Equal(names, []string{
		"127.0.0.1:5010/" + prefix + "-dev-hello:cmd", "127.0.0.1:5010/" + prefix + "-greet:cmd",
		"127.0.0.1:5010/" + prefix + "-quote:cmd", "127.0.0.1:5010/" + prefix + "-report:cmd",
		"127.0.0.1:5010/" + prefix + "-thumbnail:cmd",
		"dindbundler/runtime-java:21", "dindbundler/runtime-nodejs:20", "dindbundler/runtime-python:3.12",
		prefix + "-agent:latest", prefix + "-gateway:latest", prefix + "-storage:latest",
		prefix + ".invalid/example/logs:1.0",
	})
}
