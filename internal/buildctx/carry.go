package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Where carried files live inside the bundle: /app/files/<path relative to the project root>.
var (
	appDir   = dind.AppDir
	filesDir = dind.Rel(dind.FilesDir)
)

// Stack is what the compose file's host references need from the rest of the bundle.
type Stack struct {
	Root      string // the project root, resolved (confine.Root)
	ConfigDir string // CONFIG_DIR, bundled as /app/config; "" when none
	DotEnv    string // the project's .env, bundled as /app/.env
	// CertTarget is where the bundle puts CERT_DIR (/root/.<brand>/certs): a mount of it is
	// the bundle's own, not a host path.
	CertTarget string
}

// Carried is how the bundle carries the host files a compose file reads at run time.
type Carried struct {
	// Compose is the compose file rewritten to point at the carried copies; nil when no
	// reference needed rewriting (the file is bundled as it is).
	Compose  []byte
	Entries  []Entry  // the copies, under app/files
	Warnings []string // host paths the bundle cannot carry, and what it mounts instead
}

// DockerSockets are the Docker socket paths a stack mounts to run containers itself (ESB's agent
// starts the function workers). Inside the bundle they lead to the inner engine, so a bind mount
// of one is what the stack means and needs no warning.
var DockerSockets = map[string]bool{"/var/run/docker.sock": true, "/run/docker.sock": true}

// Carry plans the bundle's copies of doc's references. A file or directory of the project (inside
// s.Root, its links followed) is carried under /app/files/<its path in the project> — or pointed
// at /app/config or /app/.env when that is where the bundle has it already — and the compose
// file rewritten to match. A bind mount of an absolute host path outside the project is left as
// it is with a warning: inside the bundle it mounts that path of the DinD container (an empty
// directory the inner engine creates). Anything else that cannot be carried — a path leading out
// of the project, a missing file — is refused, all of them listed in one error.
func Carry(doc *compose.Document, s Stack) (Carried, error) {
	var c Carried
	var refused []error
	to := map[int]string{}
	carried := map[string]bool{}
	dirs := map[string]bool{}
	configDir := resolved(s.ConfigDir)
	dotEnv := resolved(s.DotEnv)
	for _, u := range doc.Unresolved {
		c.Warnings = append(c.Warnings, u+": left as it is for the container's environment at boot")
	}
	for i, r := range doc.Refs {
		what := r.Where + " " + r.Kind
		if r.Absolute && s.CertTarget != "" && confine.Inside(r.Path, s.CertTarget) {
			continue // the certificates the bundle carries
		}
		if r.Absolute && !inProject(r.Path, s.Root) {
			if r.Kind == compose.RefBind && DockerSockets[r.Value] {
				continue // in the bundle it is the inner engine's socket: what the stack's agent talks to
			}
			if r.Kind == compose.RefBind {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s %s is a host path outside the project %s, so the bundle does not carry it: in the bundle it mounts %s of the DinD container, an empty directory unless the container is given one (docker run -v HOST:%s)", r.Where, r.Value, s.Root, r.Value, r.Value))
				continue
			}
			refused = append(refused, fmt.Errorf("%s %s is a host path outside the project root %s: copy it into the project and refer to it relatively (or set %s)", what, r.Value, s.Root, confine.Variable))
			continue
		}
		if _, err := os.Lstat(r.Path); errors.Is(err, fs.ErrNotExist) {
			switch {
			case r.Optional:
				continue // compose skips it too
			case r.Kind == compose.RefBind && inProject(filepath.Dir(r.Path), s.Root):
				// compose creates a missing bind source; the bundle carries it empty.
				rel, err := filepath.Rel(s.Root, r.Path)
				if err != nil {
					return Carried{}, err
				}
				name := path.Join(filesDir, filepath.ToSlash(rel))
				c.Entries = addParents(c.Entries, dirs, name)
				if !carried[name] {
					carried[name] = true
					c.Entries = append(c.Entries, Entry{Name: name, Dir: true, Mode: 0o755})
				}
				to[i] = "/" + name
				continue
			}
			refused = append(refused, fmt.Errorf("%s %s not found at %s: create it, or remove the reference", what, r.Value, r.Path))
			continue
		}
		real, err := confine.Path(s.Root, what, r.Path)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		switch {
		case dotEnv != "" && real == dotEnv:
			to[i] = appDir + "/.env"
			continue
		case configDir != "" && confine.Inside(real, configDir):
			rel, _ := filepath.Rel(configDir, real)
			to[i] = path.Join(appDir, "config", filepath.ToSlash(rel))
			continue
		}
		rel, err := filepath.Rel(s.Root, real)
		if err != nil {
			return Carried{}, err
		}
		name := path.Join(filesDir, filepath.ToSlash(rel))
		to[i] = "/" + name
		if carried[name] {
			continue
		}
		carried[name] = true
		c.Entries = addParents(c.Entries, dirs, name)
		info, err := os.Stat(real)
		if err != nil {
			refused = append(refused, fmt.Errorf("%s %s: %w", what, r.Value, err))
			continue
		}
		if err := userfile.CheckInfo(what, r.Value, info); err != nil {
			refused = append(refused, err)
			continue
		}
		if info.IsDir() {
			tree, err := Tree(real, s.Root, name, 0, 0)
			if err != nil {
				refused = append(refused, fmt.Errorf("%s %s: %w", what, r.Value, err))
				continue
			}
			c.Entries = append(c.Entries, tree...)
			continue
		}
		mode := info.Mode().Perm()
		if r.Kind == compose.RefEnvFile {
			mode = 0o600 // read by compose as root; it holds the stack's secrets
		}
		c.Entries = append(c.Entries, Entry{Name: name, Src: real, Mode: mode})
	}
	if len(refused) > 0 {
		return Carried{}, fmt.Errorf("the compose file references files the bundle cannot carry:\n%w", errors.Join(refused...))
	}
	if len(to) > 0 {
		out, err := doc.Rewrite(to)
		if err != nil {
			return Carried{}, err
		}
		c.Compose = out
	}
	return c, nil
}

// addParents adds directory entries for name's parents under app (app itself is in the plan).
func addParents(entries []Entry, dirs map[string]bool, name string) []Entry {
	var missing []string
	for d := path.Dir(name); d != dind.Rel(dind.AppDir) && d != "." && !dirs[d]; d = path.Dir(d) {
		dirs[d] = true
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		entries = append(entries, Entry{Name: missing[i], Dir: true, Mode: 0o755})
	}
	return entries
}

// inProject reports whether p (absolute; its links followed when it exists) lies in root.
func inProject(p, root string) bool {
	if strings.HasPrefix(p, "~") {
		return false
	}
	return confine.Inside(resolved(p), root)
}

// resolved is p with its links followed, as far as it exists; "" stays "".
func resolved(p string) string {
	if p == "" {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}
