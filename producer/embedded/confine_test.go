package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// confineProject is a repository (it holds .git) with the template in stack/, and a directory
// outside it holding a secret.
func confineProject(t *testing.T) (base, repo string) {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo = filepath.Join(base, "repo")
	writeFiles(t, base, map[string]string{
		"repo/.git/HEAD":             "ref: refs/heads/main\n",
		"repo/stack/template.yaml":   "x",
		"repo/shared/fn/app.py":      "print('hi')\n",
		"repo/shared/lib/util.py":    "U = 1\n",
		"repo/layers/common/l.py":    "L = 1\n",
		"repo/svc/Dockerfile":        "FROM scratch\n",
		"repo/docker-compose.yml":    "services: {}\n",
		"host/secret/shadow":         "root:$6$secret\n",
		"host/secret/nested/key.pem": "-----BEGIN PRIVATE KEY-----\n",
	})
	return base, repo
}

// TestConfinePlan: every path the producer reads lies inside the project root, or the run is
// refused naming the path and the root.
func TestConfinePlan(t *testing.T) {
	base, repo := confineProject(t)
	link := func(name, target string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	codeLink := link("repo/stack/fn", filepath.Join(repo, "shared", "fn"))
	hostLink := link("repo/stack/host", filepath.Join(base, "host", "secret"))
	fn := func(codeURI string, layers ...string) sam.Function {
		f := sam.Function{Name: "Hello", PackageType: sam.PackageZip, Runtime: "python3.12", Handler: "app.handler", CodeURI: codeURI, CodeKind: sam.CodeDir}
		for _, l := range layers {
			f.Layers = append(f.Layers, sam.Layer{LogicalID: "L", ContentURI: l})
		}
		return f
	}
	imageFn := sam.Function{Name: "Img", PackageType: sam.PackageImage, DockerContext: filepath.Join(base, "host", "secret"), Dockerfile: "Dockerfile"}
	tests := []struct {
		name    string
		fns     []sam.Function
		compose *compose.File
		root    string // PROJECT_ROOT
		wantErr string // "" for allowed
	}{
		{"CodeUri: ../shared/fn inside the repository", []sam.Function{fn(filepath.Join(repo, "shared", "fn"))}, nil, "", ""},
		{"CodeUri that is a link to the code", []sam.Function{fn(codeLink)}, nil, "", ""},
		{"CodeUri: ../../../../etc", []sam.Function{fn(filepath.Join(repo, "stack", strings.Repeat("../", 30)+"etc"))}, nil, "", "function Hello CodeUri /etc lies"},
		{"an absolute CodeUri", []sam.Function{fn("/etc")}, nil, "", "/etc lies outside the project root " + repo},
		{"CodeUri linking out of the project", []sam.Function{fn(hostLink)}, nil, "", "resolves to " + filepath.Join(base, "host", "secret")},
		{"layer ContentUri outside", []sam.Function{fn(filepath.Join(repo, "shared", "fn"), filepath.Join(base, "host"))}, nil, "", "function Hello layer 1 ContentUri"},
		{"DockerContext outside", []sam.Function{imageFn}, nil, "", "function Img Metadata.DockerContext"},
		{"compose build context outside", nil, &compose.File{Services: []compose.Service{{Name: "api", Build: &compose.Build{Context: filepath.Join(base, "host"), Dockerfile: "Dockerfile"}}}}, "", "service api build.context"},
		{"PROJECT_ROOT widens the root", []sam.Function{imageFn}, nil, base, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			req := resolvedRequest(filepath.Join(repo, "stack", "template.yaml"), "dev", repo)
			req.ComposeFile, req.Root = filepath.Join(repo, "docker-compose.yml"), tt.root
			plan, err := Plan(&sam.Template{Functions: tt.fns}, tt.compose, req)
			is.NoErr(err)
			_, err = confinePlan(plan, req)
			if tt.wantErr == "" {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.wantErr)) // names what and where
			is.True(strings.Contains(err.Error(), "outside the project root "))
			is.True(strings.Contains(err.Error(), "PROJECT_ROOT")) // says what to do
		})
	}
}

// TestWriteContextFollowsLinks: the code directory's links are followed inside the root (the
// image never holds a dangling link) and refused outside it; a CodeUri that is itself a link is
// copied with its content, never as an empty /var/task.
func TestWriteContextFollowsLinks(t *testing.T) {
	base, repo := confineProject(t)
	code := filepath.Join(repo, "shared", "fn")
	tests := []struct {
		name    string
		links   map[string]string // link (relative to base) → target (absolute)
		source  string            // the CodeUri
		want    map[string]string // files expected in the context
		wantErr string
	}{
		{"CodeUri is a link to the code dir", map[string]string{"repo/stack/fn": code}, filepath.Join(repo, "stack", "fn"),
			map[string]string{"task/app.py": "print('hi')\n"}, ""},
		{"a link to a file inside", map[string]string{"repo/shared/fn/util.py": filepath.Join(repo, "shared", "lib", "util.py")}, code,
			map[string]string{"task/app.py": "print('hi')\n", "task/util.py": "U = 1\n"}, ""},
		{"a link to a directory inside", map[string]string{"repo/shared/fn/lib": filepath.Join(repo, "shared", "lib")}, code,
			map[string]string{"task/lib/util.py": "U = 1\n"}, ""},
		{"a link to a host file", map[string]string{"repo/shared/fn/shadow": filepath.Join(base, "host", "secret", "shadow")}, code,
			nil, "outside the project root " + repo},
		{"a link to a host directory", map[string]string{"repo/shared/fn/host": filepath.Join(base, "host", "secret")}, code,
			nil, "outside the project root " + repo},
		{"a dangling link", map[string]string{"repo/shared/fn/gone.py": filepath.Join(repo, "shared", "nothing.py")}, code,
			nil, "symbolic link to nothing"},
		{"a loop", map[string]string{"repo/shared/fn/again": code}, code, nil, "a loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			for l, target := range tt.links {
				is.NoErr(os.Symlink(target, filepath.Join(base, l)))
				defer os.Remove(filepath.Join(base, l))
			}
			b := ImageBuild{Context: []ContextEntry{{Kind: EntryDir, Source: tt.source, Target: "task"}}}
			var buf bytes.Buffer
			err := writeContext(&buf, b, repo)
			if tt.wantErr != "" {
				is.True(err != nil && strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			files, _ := readTar(t, buf.Bytes())
			for name, content := range tt.want {
				is.Equal(files[name], content) // the link's content, not a link
			}
			for _, content := range files {
				is.True(!strings.HasPrefix(content, "-> ")) // no link is left in the code
			}
		})
	}
}

// TestDockerContextKeepsLinks: a docker build context sends links as links, as docker build
// does; their targets are never read, so nothing leaks.
func TestDockerContextKeepsLinks(t *testing.T) {
	is := is.New(t)
	base, repo := confineProject(t)
	is.NoErr(os.Symlink(filepath.Join(base, "host", "secret", "shadow"), filepath.Join(repo, "svc", "shadow")))
	b := ImageBuild{Dockerfile: "Dockerfile", Context: []ContextEntry{{Kind: EntryDir, Source: filepath.Join(repo, "svc"), DockerIgnore: true}}}
	var buf bytes.Buffer
	is.NoErr(writeContext(&buf, b, repo))
	files, _ := readTar(t, buf.Bytes())
	is.Equal(files["shadow"], "-> "+filepath.Join(base, "host", "secret", "shadow")) // a link, content not read
}
