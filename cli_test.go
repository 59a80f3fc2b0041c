package dindbundler_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// runIn runs a command in dir with extra environment, returning its combined output.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// The zero-install bootstrap lists the pipeline's targets.
func TestBootstrapListsTargets(t *testing.T) {
	is := is.New(t)
	out, err := runIn(t, repoRoot(t), nil, "go", "run", "magefile.go", "-l")
	is.NoErr(err)
	for _, target := range []string{"bundle", "certs", "deploy", "manifest", "pull", "save", "image", "certs:generate", "dindbase"} {
		is.True(strings.Contains(strings.ToLower(out), target)) // target listed
	}
}

// build.sh keeps the seed's command line: it maps to TEMPLATE and BUNDLE_TAG and runs Bundle,
// here as a dry run.
func TestBuildShMapsSeedArguments(t *testing.T) {
	project := t.TempDir()
	for _, rel := range []string{"a/template.yaml", "b/template.yaml", "one.yaml"} {
		p := filepath.Join(project, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("Resources: {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buildSh := filepath.Join(repoRoot(t), "dind", "build.sh")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"one template and a tag", []string{"one.yaml", "demo:1"}, []string{
			"template         " + filepath.Join(project, "one.yaml"),
			"output root    " + filepath.Join(project, ".esb") + " (passed as --output: false)",
			"bundle tag       demo:1",
		}},
		{"one template, default tag", []string{"one.yaml"}, []string{"bundle tag       esb-dind-bundle:latest"}},
		{"several templates", []string{"-t", "a/template.yaml", "-t", "b/template.yaml", "multi:2"}, []string{
			"output root    " + filepath.Join(project, "a", ".esb", "template") + " (passed as --output: true)",
			"output root    " + filepath.Join(project, "b", ".esb", "template-2") + " (passed as --output: true)",
			"bundle tag       multi:2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			out, err := runIn(t, project, []string{"DRYRUN=1", "TEMPLATE=", "BUNDLE_TAG="}, "sh", append([]string{buildSh}, tt.args...)...)
			is.NoErr(err)
			is.True(strings.Contains(out, "dry run")) // a dry run touches nothing
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	is := is.New(t)
	out, err := runIn(t, project, nil, "sh", buildSh)
	is.True(err != nil) // no arguments: usage
	is.True(strings.Contains(out, "usage: build.sh"))
}
