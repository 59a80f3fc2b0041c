package embedded

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// TestRunFollowsCodeLinks builds against the real engine: a CodeUri that is a link to the code
// directory gives a full /var/task (it gave an empty one), a link inside the code is copied as
// the file it points to, and a CodeUri leading out of the project is refused before any build.
func TestRunFollowsCodeLinks(t *testing.T) {
	api := enginetest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runtimeBase := enginetest.Unique("guardtest-base:runtime")
	enginetest.ScratchImage(t, api, runtimeBase, map[string][]byte{"/etc/runtime.txt": []byte("runtime")})

	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(base, "repo")
	writeFiles(t, base, map[string]string{
		"repo/.git/HEAD":           "ref: refs/heads/main\n",
		"repo/stack/template.yaml": "# stands for the parsed template\n",
		"repo/shared/fn/app.py":    "def handler(e, c): pass\n",
		"repo/shared/lib/util.py":  "U = 1\n",
		"host/shadow":              "root:secret\n",
	})
	if err := os.Symlink(filepath.Join(repo, "shared", "fn"), filepath.Join(repo, "stack", "fn")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "shared", "lib", "util.py"), filepath.Join(repo, "shared", "fn", "util.py")); err != nil {
		t.Fatal(err)
	}
	req := Request{
		Template: filepath.Join(repo, "stack", "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: repo, OutputRoot: filepath.Join(repo, "out"),
		Brand: "esb", ImagePrefix: enginetest.Unique("guardtest"), ImageTag: "unit", Project: enginetest.Unique("guardtest"),
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_12": runtimeBase},
	}
	fn := func(codeURI string) *sam.Template {
		return &sam.Template{Dir: filepath.Join(repo, "stack"), Functions: []sam.Function{{Name: "Linked", PackageType: sam.PackageZip,
			Runtime: "python3.12", Handler: "app.handler", CodeURI: codeURI, CodeKind: sam.CodeDir}}}
	}
	name := enginetest.Unique("guardtest") + "-linked:unit"
	enginetest.Cleanup(t, api, name)

	t.Run("a linked CodeUri and a link inside the code", func(t *testing.T) {
		is := is.New(t)
		var progress bytes.Buffer
		if _, err := runParsed(ctx, api, fn(filepath.Join(repo, "stack", "fn")), nil, req, &progress); err != nil {
			t.Fatalf("%v\n%s", err, progress.String())
		}
		files := enginetest.ImageFiles(t, api, name, "/var/task")
		is.Equal(files["/var/task/app.py"].Content, "def handler(e, c): pass\n") // not an empty /var/task
		is.Equal(files["/var/task/util.py"].Content, "U = 1\n")                  // the link's file, not a dangling link
		is.True(files["/var/task/util.py"].Mode.IsRegular())
	})

	t.Run("CodeUri out of the project", func(t *testing.T) {
		is := is.New(t)
		_, err := runParsed(ctx, api, fn(filepath.Join(base, "host")), nil, req, nil)
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "function Linked CodeUri "+filepath.Join(base, "host")))
		is.True(strings.Contains(err.Error(), "outside the project root "+repo))
	})
}
