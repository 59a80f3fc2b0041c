package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/matryer/is"
)

func TestWriteCreatesDirectoriesAndLeavesNoTemp(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "a", "b", "out.json")
	is.NoErr(WriteJSON(dest, map[string]int{"x": 1}, 0o600))
	data, err := os.ReadFile(dest)
	is.NoErr(err)
	is.Equal(string(data), "{\n  \"x\": 1\n}\n")
	info, err := os.Stat(dest)
	is.NoErr(err)
	is.Equal(info.Mode().Perm(), os.FileMode(0o600))
	entries, err := os.ReadDir(filepath.Dir(dest))
	is.NoErr(err)
	is.Equal(len(entries), 1) // no temporary file beside it
}

func TestAbortLeavesNothingAndKeepsTheOldFile(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "out")
	is.NoErr(Write(dest, []byte("old"), 0o644))
	f, err := Create(dest, 0o644)
	is.NoErr(err)
	_, err = f.Write([]byte("half of the new"))
	is.NoErr(err)
	f.Abort() // an interrupted stage
	f.Abort() // safe twice
	data, err := os.ReadFile(dest)
	is.NoErr(err)
	is.Equal(string(data), "old") // never a half-written output
	entries, err := os.ReadDir(dir)
	is.NoErr(err)
	is.Equal(len(entries), 1)
}

func TestCommitOnce(t *testing.T) {
	is := is.New(t)
	dest := filepath.Join(t.TempDir(), "out")
	f, err := Create(dest, 0o644)
	is.NoErr(err)
	_, err = f.Write([]byte("new"))
	is.NoErr(err)
	is.NoErr(f.Commit())
	is.True(f.Commit() != nil) // a second commit is a bug, reported
	f.Abort()                  // no-op after a commit
	data, err := os.ReadFile(dest)
	is.NoErr(err)
	is.Equal(string(data), "new")
}

func TestIsTemp(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{".bundle-latest.tar.gz.tmp-123456", true},
		{".export-layer.tmp-42", true},
		{".images.json.tmp-7", true},
		{"bundle-latest.tar.gz.tmp-1", false}, // not hidden: not ours
		{".tmp-1", false},
		{".notes.tmp-", false},
		{".notes.tmp-12a", false},
		{"notes.tmp-1", false},
		{".lock", false},
	} {
		if got := IsTemp(tc.name); got != tc.want {
			t.Errorf("IsTemp(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A write killed part-way leaves its temporary file; Sweep removes it and nothing else.
func TestSweep(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "sub", "bundle.tar.gz"), 0o644)
	is.NoErr(err)
	_, err = f.Write([]byte("half a bundle"))
	is.NoErr(err)
	is.NoErr(f.Close()) // the process dies here: no Commit, no Abort
	is.NoErr(Write(filepath.Join(dir, "kept.json"), []byte("{}"), 0o644))
	removed, freed, err := Sweep(dir)
	is.NoErr(err)
	is.Equal(removed, 1)
	is.Equal(freed, int64(len("half a bundle")))
	left, err := os.ReadDir(filepath.Join(dir, "sub"))
	is.NoErr(err)
	is.Equal(len(left), 0)
	_, err = os.Stat(filepath.Join(dir, "kept.json"))
	is.NoErr(err)
}
