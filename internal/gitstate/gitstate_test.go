package gitstate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/matryer/is"
)

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestRead(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	is := is.New(t)
	ctx := context.Background()

	outside := t.TempDir()
	is.Equal(Read(ctx, outside), State{}) // not a repository

	repo := t.TempDir()
	git(t, repo, "init", "-q")
	sub := filepath.Join(repo, "sub")
	is.NoErr(os.MkdirAll(sub, 0o755))
	is.NoErr(os.WriteFile(filepath.Join(sub, "a.txt"), []byte("a"), 0o644))
	s := Read(ctx, sub)
	root, err := filepath.EvalSymlinks(repo)
	is.NoErr(err)
	is.Equal(s.Root, root)
	is.Equal(s.Commit, "") // no commits yet
	is.Equal(s.Dirty, []string{"sub/"})

	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "one")
	s = Read(ctx, sub)
	is.Equal(len(s.Commit), 40)
	is.Equal(s.Short(), s.Commit[:7])
	is.Equal(s.Dirty, nil) // clean

	is.NoErr(os.WriteFile(filepath.Join(sub, "a.txt"), []byte("b"), 0o644))
	is.Equal(Read(ctx, sub).Dirty, []string{"sub/a.txt"})
}
