package confine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestRoot(t *testing.T) {
	is := is.New(t)
	base, err := filepath.EvalSymlinks(t.TempDir())
	is.NoErr(err)
	repo := filepath.Join(base, "repo")
	is.NoErr(os.MkdirAll(filepath.Join(repo, ".git"), 0o755))
	is.NoErr(os.MkdirAll(filepath.Join(repo, "stacks", "a"), 0o755))
	worktree := filepath.Join(base, "wt")
	is.NoErr(os.MkdirAll(filepath.Join(worktree, "t"), 0o755))
	is.NoErr(os.WriteFile(filepath.Join(worktree, ".git"), []byte("gitdir: x"), 0o644))
	plain := filepath.Join(base, "plain", "t")
	is.NoErr(os.MkdirAll(plain, 0o755))

	tests := []struct {
		name, start, override, want string
	}{
		{"nearest .git directory above", filepath.Join(repo, "stacks", "a"), "", repo},
		{"a worktree's .git file", filepath.Join(worktree, "t"), "", worktree},
		{"no repository: the directory itself", plain, "", plain},
		{"PROJECT_ROOT wins", filepath.Join(repo, "stacks", "a"), base, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Root(tt.start, tt.override)
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
	_, err = Root(plain, filepath.Join(base, "missing"))
	is.True(err != nil && strings.Contains(err.Error(), "PROJECT_ROOT=")) // a wrong override is named
}

func TestPath(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "proj")
	for _, d := range []string{"proj/shared/fn", "outside"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) string {
		p := filepath.Join(base, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in := link("proj/fn-link", filepath.Join(root, "shared", "fn"))
	out := link("proj/etc-link", "/etc")
	dangling := link("proj/dangling", filepath.Join(root, "nothing"))
	tests := []struct {
		name, path, want, wantErr string
	}{
		{"inside", filepath.Join(root, "shared", "fn"), filepath.Join(root, "shared", "fn"), ""},
		{"a link inside is followed", in, filepath.Join(root, "shared", "fn"), ""},
		{"dot-dots climbing out", filepath.Join(root, "shared", "..", "..", "outside"), "", "outside the project root " + root},
		{"an absolute path", "/etc", "", "/etc lies outside the project root"},
		{"a link out", out, "", "resolves to /etc"},
		{"a dangling link", dangling, "", "symbolic link to nothing"},
		{"missing", filepath.Join(root, "missing"), "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Path(root, "function F CodeUri", tt.path)
			if tt.wantErr == "" {
				is.NoErr(err)
				is.Equal(got, tt.want)
				return
			}
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.wantErr)) // names the path and the root
			is.True(strings.Contains(err.Error(), "function F CodeUri"))
			if strings.Contains(tt.wantErr, "outside") || strings.Contains(tt.wantErr, "resolves") {
				is.True(errors.Is(err, ErrOutside))
			}
		})
	}
}
