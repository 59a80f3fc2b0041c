// Package confine keeps what the bundler reads inside the project: it finds the project root
// (PROJECT_ROOT, else the nearest directory holding .git, else the starting directory) and
// refuses a path — after following every symbolic link — that lies outside it, naming the path
// and the root. It reads only directory entries and links, never file contents.
package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Variable is the setting that overrides the project root.
const Variable = "PROJECT_ROOT"

// Root is the project root for files found from start (a directory): override when set, else the
// nearest directory at or above start holding .git (a directory, or the file of a worktree), else
// start itself. The result is absolute with its symbolic links resolved.
func Root(start, override string) (string, error) {
	dir := override
	if dir == "" {
		abs, err := filepath.Abs(start)
		if err != nil {
			return "", fmt.Errorf("find the project root of %s: %w", start, err)
		}
		dir = abs
		for d := abs; ; d = filepath.Dir(d) {
			if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
				dir = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if override != "" {
			return "", fmt.Errorf("%s=%s: %w: point it at the project's directory", Variable, override, err)
		}
		return "", fmt.Errorf("find the project root of %s: %w", start, err)
	}
	return real, nil
}

// Inside reports whether path lies in dir or is dir; both must be clean and absolute.
func Inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// ErrOutside is wrapped by the errors of Path.
var ErrOutside = errors.New("outside the project root")

// Path resolves p (absolute; every symbolic link followed) and returns the resolved path when it
// lies inside root (a result of Root). what names p for the error, e.g. "function Hello CodeUri".
// A p that does not exist is an error too: nothing may be silently left out.
func Path(root, what, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("%s %s is a symbolic link to nothing: fix or remove the link", what, p)
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, p, err)
	}
	if !Inside(real, root) {
		shown := p
		if real != p {
			shown = p + " (resolves to " + real + ")"
		}
		return "", fmt.Errorf("%s %s lies %w %s: the bundle may only carry the project's own files; move it into the project, or set %s to a directory holding both", what, shown, ErrOutside, root, Variable)
	}
	return real, nil
}
