package builddir_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/source"
)

// sample is a BUILD_DIR; layout is every path of it, one per method of Dir, relative and with the
// README table's placeholders as arguments (<n> is the number 1).
const sample = builddir.Dir("/work/build")

var layout = map[string]string{
	"Lock":                  sample.Lock(),
	"Summary":               sample.Summary(),
	"MergedManifest":        sample.MergedManifest(),
	"MergedRuntimeConfig":   sample.MergedRuntimeConfig(),
	"ImageSet":              sample.ImageSet(),
	"Layers":                sample.Layers(),
	"State":                 sample.State(),
	"StageState":            sample.StageState("<stage>"),
	"DeployState":           sample.DeployState("<stem>"),
	"ExportState":           sample.ExportState("<file>"),
	"GeneratedEnv":          sample.GeneratedEnv(),
	"ArtifactManifest":      sample.ArtifactManifest(),
	"ArtifactEntryManifest": sample.ArtifactEntryManifest(1, "<id>"),
	"Export":                sample.Export("<name>.tar.gz"),
	"LoadScript":            sample.LoadScript(),
	"ImageLayout":           sample.ImageLayout(),
	"Cache":                 sample.Cache(),
	"Bench":                 sample.Bench(),
}

// Every path method of Dir is in layout, so a new path cannot miss README's table.
func TestLayoutCoversEveryMethod(t *testing.T) {
	typ := reflect.TypeOf(sample)
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if _, ok := layout[name]; !ok && name != "String" {
			t.Errorf("Dir.%s is not in this test's layout: add it here and to README's table \"The build directory\"", name)
		}
	}
}

func TestPathsAreUnderTheBuildDirAndDistinct(t *testing.T) {
	is := is.New(t)
	seen := map[string]string{}
	for name, path := range layout {
		rel, err := filepath.Rel(string(sample), path)
		is.NoErr(err)
		is.True(rel != "." && !strings.HasPrefix(rel, "..")) // inside BUILD_DIR
		if other, dup := seen[path]; dup {
			t.Errorf("Dir.%s and Dir.%s are both %s", name, other, path)
		}
		seen[path] = name
	}
	is.Equal(sample.MergedManifest(), "/work/build/bundle/manifest.json")
	is.Equal(sample.StageState("save"), "/work/build/state/save.json")
	is.Equal(sample.DeployState("template"), "/work/build/state/deploy-template.json")
	is.Equal(sample.ArtifactEntryManifest(2, "api"), "/work/build/artifacts/2-api/manifest.json")
}

// readmes are the two READMEs and the heading of their build directory section.
var readmes = []struct{ file, heading string }{
	{"README.md", "## The build directory"},
	{"README.ja.md", "## ビルドディレクトリ"},
}

// Each README's table "The build directory" lists exactly Dir's paths: the first cell of each
// row, relative to BUILD_DIR (a directory with a trailing slash).
func TestReadmesListTheLayout(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	var want []string
	for _, path := range layout {
		rel, err := filepath.Rel(string(sample), path)
		is.NoErr(err)
		want = append(want, filepath.ToSlash(rel))
	}
	slices.Sort(want)
	for _, r := range readmes {
		data, err := os.ReadFile(filepath.Join(root, r.file))
		is.NoErr(err)
		got := tablePaths(section(string(data), r.heading))
		if !slices.Equal(got, want) {
			t.Errorf("%s, section %q lists paths %v; builddir.Dir has %v", r.file, r.heading, got, want)
		}
	}
}

// section is the text under heading up to the next heading of the same level ("## ").
func section(text, heading string) string {
	_, after, found := strings.Cut(text, "\n"+heading+"\n")
	if !found {
		return ""
	}
	body, _, _ := strings.Cut(after, "\n## ")
	return body
}

var firstCell = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// tablePaths are the backticked first cells of the section's table rows, trailing slash dropped,
// <n> read as 1; sorted.
func tablePaths(text string) []string {
	var paths []string
	for _, m := range firstCell.FindAllStringSubmatch(text, -1) {
		paths = append(paths, strings.ReplaceAll(strings.TrimSuffix(m[1], "/"), "<n>", "1"))
	}
	slices.Sort(paths)
	return paths
}
