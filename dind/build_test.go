package dind_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/source"
)

// planLine matches one line of the dry-run plan whatever its column spacing: the label, then the
// value, then anything after it on that line.
func planLine(label, value string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+` + regexp.QuoteMeta(value) + `(\s|$)`)
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
	for _, dir := range []string{"arts", "more"} {
		if err := os.MkdirAll(filepath.Join(project, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		entry := "  - {id: t-f1e2dbd3, artifact_root: root, runtime_config_dir: c, source_template: {path: t.yaml}}\n"
		if err := os.WriteFile(filepath.Join(project, dir, "artifact.yml"), []byte("schema_version: \"1\"\nartifacts:\n"+entry), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(project, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	buildSh, err := filepath.Abs("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []*regexp.Regexp
	}{
		{"one template and a tag", []string{"one.yaml", "demo:1"}, []*regexp.Regexp{
			planLine("template", filepath.Join(project, "one.yaml")),
			planLine("output root", filepath.Join(project, ".esb")+" (passed as --output: false)"),
			planLine("bundle tag", "demo:1"),
		}},
		{"one template, default tag", []string{"one.yaml"}, []*regexp.Regexp{planLine("bundle tag", "esb-dind-bundle:latest")}},
		{"several templates", []string{"-t", "a/template.yaml", "-t", "b/template.yaml", "multi:2"}, []*regexp.Regexp{
			planLine("output root", filepath.Join(project, "a", ".esb", "template")+" (passed as --output: true)"),
			planLine("output root", filepath.Join(project, "b", ".esb", "template-2")+" (passed as --output: true)"),
			planLine("bundle tag", "multi:2"),
		}},
		{"artifact directories", []string{"-a", "arts", "-a", "more/artifact.yml", "art:3"}, []*regexp.Regexp{
			planLine("artifact entry", filepath.Join(project, "arts", "artifact.yml")+" artifacts[0] (t-f1e2dbd3)"),
			planLine("artifact entry", filepath.Join(project, "more", "artifact.yml")+" artifacts[0] (t-f1e2dbd3)"),
			planLine("bundle tag", "art:3"),
			regexp.MustCompile(`deploy\s+would validate ` + regexp.QuoteMeta(filepath.Join(project, "arts", "artifact.yml"))),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			out, err := runIn(t, project, []string{"DRYRUN=1", "TEMPLATE=", "BUNDLE_TAG="}, "sh", append([]string{buildSh}, tt.args...)...)
			is.NoErr(err)
			is.True(strings.Contains(out, "dry run")) // a dry run touches nothing
			for _, w := range tt.want {
				if !w.MatchString(out) {
					t.Errorf("output lacks a line matching %s:\n%s", w, out)
				}
			}
		})
	}
	is := is.New(t)
	// What the real run would fail on fails the dry run too, after its plan.
	out, err := runIn(t, project, []string{"DRYRUN=1", "TEMPLATE=", "BUNDLE_TAG="}, "sh", buildSh, "missing.yaml", "Bad Tag:1")
	is.True(err != nil) // an invalid tag: non-zero exit
	is.True(strings.Contains(out, `BUNDLE_TAG="Bad Tag:1"`))
	out, err = runIn(t, project, []string{"DRYRUN=1", "TEMPLATE=", "BUNDLE_TAG="}, "sh", buildSh, "missing.yaml")
	is.True(err != nil) // a missing template: non-zero exit
	is.True(strings.Contains(out, "dry run"))
	is.True(strings.Contains(out, "TEMPLATE names "+filepath.Join(project, "missing.yaml")+": no such file"))
	out, err = runIn(t, project, nil, "sh", buildSh)
	is.True(err != nil) // no arguments: usage
	is.True(strings.Contains(out, "usage: build.sh"))
}

// runIn runs a command in dir with extra environment, returning its combined output. build.sh
// runs `go run magefile.go` in the shared source tree, which compiles there when mage's cache
// misses: the magefiles' lock (source.LockMagefiles) is held meanwhile.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	unlock, err := source.LockMagefiles()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
