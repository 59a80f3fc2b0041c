// Package ci_test runs the example CI workflow's commands, as dry runs, so the workflow cannot
// drift from the targets and variables it uses.
package ci_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matryer/is"
	"gopkg.in/yaml.v3"

	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/internal/source/sourcetest"
)

type workflow struct {
	Jobs map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name             string `yaml:"name"`
			Uses             string `yaml:"uses"`
			Run              string `yaml:"run"`
			WorkingDirectory string `yaml:"working-directory"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var target = regexp.MustCompile(`go run magefile\.go -w "\$GITHUB_WORKSPACE" ([a-z:]+)`)

// Every run: step of the workflow runs as written (bash -e, as GitHub runs it), in a
// workspace laid out like the workflow's checkout, with DRYRUN=1: each target exists, accepts
// the job's variables, and the stages run in pipeline order.
func TestGitHubActionsWorkflowRuns(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	data, err := os.ReadFile(filepath.Join(root, "examples", "ci", "github-actions.yml"))
	is.NoErr(err)
	var wf workflow
	is.NoErr(yaml.Unmarshal(data, &wf))
	job, ok := wf.Jobs["bundle"]
	is.True(ok)

	workspace := t.TempDir()
	is.NoErr(os.MkdirAll(filepath.Join(workspace, "build"), 0o755))
	is.NoErr(os.WriteFile(filepath.Join(workspace, "template.yaml"), []byte("Resources: {}\n"), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(workspace, "docker-compose.yml"), []byte("services:\n  web:\n    image: web:1\n"), 0o644))
	env := append(os.Environ(), "GITHUB_WORKSPACE="+workspace, "DRYRUN=1")
	for k, v := range job.Env {
		env = append(env, k+"="+v)
	}

	mageIn := `mage_in() { (cd "$1" && shift && exec ` + sourcetest.Mage(t) + ` "$@"); }` + "\n"
	var targets []string
	cached := false
	for _, step := range job.Steps {
		if strings.HasPrefix(step.Uses, "actions/cache@") {
			cached = true
		}
		if step.Run == "" {
			continue
		}
		m := target.FindStringSubmatch(step.Run)
		if m == nil {
			t.Fatalf("step %q does not run a target the way the others do: %s", step.Name, step.Run)
		}
		targets = append(targets, m[1])
		is.Equal(step.WorkingDirectory, ".dindbundler") // where the tool is checked out
		// The bootstrap compiled once (sourcetest.Mage), not `go run magefile.go` in the shared
		// tree; -w DIR is the working directory.
		run := mageIn + strings.Replace(step.Run, `go run magefile.go -w "$GITHUB_WORKSPACE"`, `mage_in "$GITHUB_WORKSPACE"`, 1)
		cmd := exec.Command("bash", "-e", "-c", run)
		cmd.Dir = root // the tool's checkout
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("step %q (%s): %v\n%s", step.Name, step.Run, err, out)
		}
		text := string(out)
		if step.Name == "inspect" {
			plan, err := os.ReadFile(filepath.Join(workspace, "build", "inspect.json"))
			is.NoErr(err)
			text = string(plan)
		}
		is.True(strings.Contains(text, "dry run: nothing is built")) // the plan, not a build
		is.True(strings.Contains(text, "bundle tag       my-stack-bundle:latest"))
		if step.Name == "export" {
			is.True(strings.Contains(text, "export    would write "+filepath.Join(workspace, "build", "my-stack-bundle-latest.tar.gz")+" (gzip)"))
		}
	}
	is.Equal(targets, []string{"certs", "deploy", "manifest", "pull", "save", "image", "export", "inspect"})
	is.True(cached) // the layer store is cached between runs
	is.True(strings.Contains(string(data), "path: build/layers"))
}
