package fresh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestSnapshot: a change is seen whatever its timestamps say; a file only touched (same
// content, new signature) is not a change; a file whose signature is unchanged is not read.
func TestSnapshot(t *testing.T) {
	old := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name    string
		change  func(t *testing.T, dir string)
		changed string // suffix of the reported path; "" for no change
	}{
		{"nothing", func(*testing.T, string) {}, ""},
		{"cp -p of an older file of the same size", func(t *testing.T, dir string) {
			src := filepath.Join(t.TempDir(), "app.py")
			must(t, os.WriteFile(src, []byte("print(2)"), 0o644))
			must(t, os.Chtimes(src, old, old))
			out, err := exec.Command("cp", "-p", src, filepath.Join(dir, "fn", "app.py")).CombinedOutput()
			if err != nil {
				t.Fatalf("cp -p: %v: %s", err, out)
			}
		}, "fn/app.py"},
		{"same size, same mtime, rewritten in place", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "fn", "app.py")
			must(t, os.WriteFile(p, []byte("print(3)"), 0o644))
			must(t, os.Chtimes(p, old, old))
		}, "fn/app.py"},
		{"touched only", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "fn", "app.py")
			now := time.Now()
			must(t, os.Chtimes(p, now, now))
		}, ""},
		{"file added", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "fn", "new.py"), nil, 0o644))
		}, "fn/new.py"},
		{"file removed", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "fn", "app.py")))
		}, "fn/app.py (removed)"},
		{"excluded output changed", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, ".esb", "out"), []byte("x"), 0o644))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			for rel, content := range map[string]string{"fn/app.py": "print(1)", "template.yaml": "x", ".esb/out": ""} {
				p := filepath.Join(dir, rel)
				is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
				is.NoErr(os.WriteFile(p, []byte(content), 0o644))
				is.NoErr(os.Chtimes(p, old, old))
			}
			exclude := []string{filepath.Join(dir, ".esb")}
			recorded, changed, err := Snapshot([]string{dir}, exclude, nil)
			is.NoErr(err)
			is.True(changed != "") // nothing recorded: everything is new
			is.Equal(len(recorded), 2)

			tt.change(t, dir)
			_, changed, err = Snapshot([]string{dir}, exclude, recorded)
			is.NoErr(err)
			if tt.changed == "" {
				is.Equal(changed, "")
			} else {
				is.True(strings.HasSuffix(changed, tt.changed)) // the changed file is named
			}
		})
	}
}

// TestSnapshotReusesHashes: an unchanged signature is trusted, as git's index does, so only
// files whose signature changed are read.
func TestSnapshotReusesHashes(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "a")
	is.NoErr(os.WriteFile(p, []byte("a"), 0o644))
	recorded, _, err := Snapshot([]string{dir}, nil, nil)
	is.NoErr(err)
	r := recorded[p]
	r.SHA256 = "recorded"
	recorded[p] = r
	again, changed, err := Snapshot([]string{dir}, nil, recorded)
	is.NoErr(err)
	is.Equal(changed, "")
	is.Equal(again[p].SHA256, "recorded") // not read again
}

// TestNewestFollowsLinks: a CodeUri that is a symbolic link to the code directory is an input
// with everything under it.
func TestNewestFollowsLinks(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	code := filepath.Join(dir, "shared", "fn")
	is.NoErr(os.MkdirAll(code, 0o755))
	is.NoErr(os.WriteFile(filepath.Join(code, "app.py"), nil, 0o644))
	link := filepath.Join(dir, "tmpl", "fn")
	is.NoErr(os.MkdirAll(filepath.Dir(link), 0o755))
	is.NoErr(os.Symlink(code, link))
	is.NoErr(os.Symlink(filepath.Dir(link), filepath.Join(code, "loop"))) // a loop ends
	path, _, err := Newest([]string{link}, nil)
	is.NoErr(err)
	is.Equal(path, filepath.Join(link, "app.py"))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
