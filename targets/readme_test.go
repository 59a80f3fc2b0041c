package targets_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/internal/source/sourcetest"
)

// readmes are the two READMEs and the headings of their target and configuration sections.
var readmes = []struct{ file, targets, config string }{
	{"README.md", "## Targets", "## Configuration"},
	{"README.ja.md", "## ターゲット", "## 設定"},
}

// The targets table of each README lists exactly the targets `go run magefile.go -l` lists (an
// alias under its alias, certs:generate).
func TestReadmesListEveryTarget(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	want := mageTargets(run(t, root, nil, sourcetest.Mage(t), "-l"))
	is.True(len(want) > 0) // the listing parsed
	for _, r := range readmes {
		text := readFile(t, filepath.Join(root, r.file))
		got := firstCellNames(section(text, r.targets))
		if !slices.Equal(got, want) {
			t.Errorf("%s, section %q lists targets %v; go run magefile.go -l lists %v", r.file, r.targets, got, want)
		}
	}
}

// Both READMEs name the same variables: every backticked upper-case name of one appears in the
// other.
func TestReadmesNameTheSameVariables(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	en := variables(readFile(t, filepath.Join(root, readmes[0].file)))
	ja := variables(readFile(t, filepath.Join(root, readmes[1].file)))
	is.True(len(en) > 50) // the extraction found the configuration tables
	for _, v := range en {
		if !slices.Contains(ja, v) {
			t.Errorf("README.md names `%s`, README.ja.md does not", v)
		}
	}
	for _, v := range ja {
		if !slices.Contains(en, v) {
			t.Errorf("README.ja.md names `%s`, README.md does not", v)
		}
	}
}

// Every variable of README's configuration tables is read somewhere in the Go or shell sources:
// a Go string literal "NAME" (a "PREFIX_" literal for NAME_<SUFFIX>, prefixed("SUFFIX") for the
// brand's ESB_SUFFIX), or a shell $NAME / ${NAME.
func TestReadmeConfigurationIsRead(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	names := firstCellNames(section(readFile(t, filepath.Join(root, "README.md")), "## Configuration"))
	is.True(len(names) > 50) // the tables parsed
	goSrc, shSrc := sources(t, root)
	for _, name := range names {
		if !readInSources(name, goSrc, shSrc) {
			t.Errorf("README's configuration names `%s`, which no Go or shell source reads", name)
		}
	}
}

// mageTargets parses a `mage -l` listing: the first word of each line under "Targets:", the alias
// when the line names one; sorted.
func mageTargets(listing string) []string {
	_, list, _ := strings.Cut(listing, "Targets:\n")
	alias := regexp.MustCompile(`\(alias ([^)]+)\)`)
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.TrimSpace(line) == "" {
			continue
		}
		name := strings.TrimSuffix(strings.Fields(line)[0], "*")
		if m := alias.FindStringSubmatch(line); m != nil {
			name = m[1]
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
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

var backticked = regexp.MustCompile("`([^`\n]+)`")

// firstCellNames lists the backticked names in the first cell of every table row of text
// (`RUN_UID` / `RUN_GID` gives both), without the header separator; sorted, each once.
func firstCellNames(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var variableName = regexp.MustCompile(`^([A-Z][A-Z0-9_]*(?:<[A-Z]+>)?)(?:=.*)?$`)

// variables lists the backticked upper-case names of a Markdown text outside fenced code blocks
// (`FORCE=1` counts as FORCE); sorted, each once.
func variables(text string) []string {
	var names []string
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(line, -1) {
			if v := variableName.FindStringSubmatch(m[1]); v != nil && len(v[1]) > 1 {
				names = append(names, v[1])
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// sources returns the text of every Go file and every shell script of the module (tests
// included: some variables, such as SAM_CORPUS, only steer tests), without test data and this
// file, which names variables only to look for them.
func sources(t *testing.T, root string) (goSrc, shSrc string) {
	t.Helper()
	var g, sh strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == ".git" || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case rel == filepath.Join("targets", "readme_test.go"):
		case strings.HasSuffix(path, ".go"):
			g.WriteString(readFile(t, path))
		case strings.HasSuffix(path, ".sh"), filepath.Base(path) == "Dockerfile",
			filepath.Dir(rel) == "scripts", rel == filepath.Join(".ci", "run"):
			sh.WriteString(readFile(t, path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the sources under %s: %v", root, err)
	}
	return g.String(), sh.String()
}

// readInSources reports whether name is read by the Go or shell sources.
func readInSources(name, goSrc, shSrc string) bool {
	if prefix, _, ok := strings.Cut(name, "<"); ok {
		return strings.Contains(goSrc, `"`+prefix+`"`)
	}
	if suffix, ok := strings.CutPrefix(name, "ESB_"); ok {
		return strings.Contains(goSrc, `prefixed("`+suffix+`")`)
	}
	return strings.Contains(goSrc, `"`+name+`"`) ||
		regexp.MustCompile(`\$\{?`+regexp.QuoteMeta(name)+`\b`).MatchString(shSrc)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}
