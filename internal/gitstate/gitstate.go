// Package gitstate reads, through the git command, the state of the repository holding a
// directory: its top level, HEAD and uncommitted files. It owns that one question; it never
// changes a repository, and without git or outside a repository it reports a zero State rather
// than failing (git is optional everywhere it is asked).
package gitstate

import (
	"context"
	"os/exec"
	"strings"
)

// State is what git says about the repository holding a directory.
type State struct {
	Root   string   // the top level; "" outside a repository or without git
	Commit string   // HEAD, full; "" in a repository without commits
	Dirty  []string // uncommitted paths (git status --porcelain), relative to Root
}

// Read asks git about the repository holding dir.
func Read(ctx context.Context, dir string) State {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimRight(string(out), "\n"), err
	}
	root, err := run("rev-parse", "--show-toplevel")
	if err != nil {
		return State{}
	}
	s := State{Root: strings.TrimSpace(root)}
	// A repository without commits has no HEAD; its commit stays "".
	if commit, err := run("rev-parse", "--verify", "--quiet", "HEAD"); err == nil {
		s.Commit = strings.TrimSpace(commit)
	}
	if status, err := run("status", "--porcelain"); err == nil {
		for _, line := range strings.Split(status, "\n") {
			if len(line) > 3 {
				s.Dirty = append(s.Dirty, strings.TrimSpace(line[3:]))
			}
		}
	}
	return s
}

// Short is the commit abbreviated to 7 characters, git's shortest default.
func (s State) Short() string {
	if len(s.Commit) > 7 {
		return s.Commit[:7]
	}
	return s.Commit
}
