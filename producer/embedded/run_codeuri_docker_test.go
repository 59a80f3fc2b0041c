package embedded

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// A function whose CodeUri is the project root (./) gets its code, never the repository's
// history, SAM's build output or Python caches: the image holds what sam build would copy.
func TestRunCodeURIRootLeavesOutRepository(t *testing.T) {
	api := enginetest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	base := unitPrefix + "-base:codeuri"
	enginetest.ScratchImage(t, api, base, map[string][]byte{"/etc/runtime.txt": []byte("runtime")})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml":                "# stands for the parsed template\n",
		"app.py":                       "def handler(e, c): pass\n",
		".git/HEAD":                    "ref: refs/heads/main\n",
		".git/objects/pack/history":    "the whole history",
		".aws-sam/build/template.yaml": "built",
		"lib/util.py":                  "x = 1\n",
		"lib/__pycache__/util.pyc":     "compiled",
	})
	name := unitPrefix + "-root:unit"
	enginetest.Cleanup(t, api, name)
	tmpl := &sam.Template{Dir: dir, Functions: []sam.Function{{
		Name: "Root", PackageType: sam.PackageZip, Runtime: "python3.14", Handler: "app.handler",
		CodeURI: dir, CodeKind: sam.CodeDir,
	}}}
	req := Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "unit", Mode: ModeDocker, ProjectRoot: dir, OutputRoot: filepath.Join(dir, "out"),
		Brand: "esb", ImagePrefix: unitPrefix, ImageTag: "unit", Project: unitPrefix,
		Vars: map[string]string{"RUNTIME_BASE_PYTHON3_14": base}, CodeFiles: map[string][]string{},
	}
	var progress bytes.Buffer
	if _, err := runParsed(ctx, api, tmpl, nil, req, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for path, want := range map[string]bool{
		"/var/task/app.py": true, "/var/task/lib/util.py": true, "/var/task/template.yaml": true,
		"/var/task/.git/HEAD": false, "/var/task/.aws-sam/build/template.yaml": false, "/var/task/lib/__pycache__/util.pyc": false,
	} {
		_, ok := fileInImage(t, api, name, path)
		if ok != want {
			t.Errorf("%s in the image: %v, want %v", path, ok, want)
		}
	}
}
