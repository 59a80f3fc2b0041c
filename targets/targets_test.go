package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/source"
)

// The targets every user sees in `mage -l`, here and in a project that imports them.
var productTargets = []string{"bundle", "certs", "deploy", "manifest", "pull", "save", "image", "certsgenerate", "dindbase", "export", "inspect"}

// lists reports whether a `mage -l` listing (lower-cased) has target.
func lists(listing, target string) bool {
	return strings.Contains(listing, "\n  "+target+" ") || strings.Contains(listing, "\n  "+target+"* ")
}

// run runs a command in dir with extra environment, failing the test with its output on error.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// The zero-install bootstrap lists the product's targets, the certs:generate alias and the
// developer harness's targets.
func TestBootstrapListsTargets(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	unlock, err := source.LockMagefiles() // the bootstrap may compile in the shared tree
	is.NoErr(err)
	out := strings.ToLower(run(t, root, nil, "go", "run", "magefile.go", "-l"))
	unlock()
	for _, target := range append(productTargets, "demo", "bench") {
		if !lists(out, target) {
			t.Errorf("mage -l lacks target %q:\n%s", target, out)
		}
	}
	is.True(strings.Contains(out, "bundle*")) // the default target
}

// A second project imports the targets with `// mage:import` (as its only magefile line), lists
// them and runs a dry run of the chain through them.
func TestAnotherProjectImportsTheTargets(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	is.NoErr(err)
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	is.NoErr(err)

	project := t.TempDir()
	mod := strings.Replace(string(gomod), "module github.com/dindbundler/dindbundler", "module example.com/stack", 1) +
		"\nrequire github.com/dindbundler/dindbundler v0.0.0\n\nreplace github.com/dindbundler/dindbundler => " + root + "\n"
	files := map[string]string{
		"go.mod": mod,
		"go.sum": string(gosum),
		"magefile.go": `//go:build ignore

package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
`,
		"magefiles/magefile.go": `//go:build mage

package main

import (
	//mage:import
	_ "github.com/dindbundler/dindbundler/targets"
)
`,
		"template.yaml": "Resources: {}\n",
	}
	for name, body := range files {
		p := filepath.Join(project, name)
		is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
		is.NoErr(os.WriteFile(p, []byte(body), 0o644))
	}

	list := strings.ToLower(run(t, project, []string{"GOFLAGS=-mod=mod"}, "go", "run", "magefile.go", "-l"))
	for _, target := range productTargets {
		if !lists(list, target) {
			t.Errorf("the importing project's mage -l lacks %q:\n%s", target, list)
		}
	}
	is.True(!strings.Contains(list, "bench")) // the developer harness is not imported with the product

	plan := run(t, project, []string{"GOFLAGS=-mod=mod", "DRYRUN=1", "TEMPLATE=template.yaml", "BUNDLE_TAG=imported:1", "BUILD_DIR="}, "go", "run", "magefile.go", "save")
	is.True(strings.Contains(plan, "dry run"))                               // a plan, nothing done
	is.True(strings.Contains(plan, filepath.Join(project, "template.yaml"))) // the importing project's template
	is.True(strings.Contains(plan, "imported:1"))                            // its configuration
	is.Equal(strings.Count(plan, "dry run"), 1)                              // the plan is printed once for the chain
}
