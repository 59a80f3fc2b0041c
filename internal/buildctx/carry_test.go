package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/manifest"
	"gopkg.in/yaml.v3"

	"github.com/dindbundler/dindbundler/internal/compose"
)

// carryProject is a project (root) with a compose file in stack/, CONFIG_DIR stack/config, a
// .env, and a host directory outside it.
func carryProject(t *testing.T) (base, root string) {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(base, "proj")
	for rel, body := range map[string]string{
		"proj/stack/data/seed.sql":       "insert",
		"proj/stack/extra.env":           "TOKEN=x\n",
		"proj/stack/secrets/db.txt":      "pw",
		"proj/stack/config/nginx.conf":   "server {}",
		"proj/stack/.env":                "A=1\n",
		"proj/shared/common.env":         "B=2\n",
		"proj/stack/certs/tls.pem":       testKey,
		"host/secret.txt":                "host secret",
		"proj/stack/linked/placeholder":  "",
		"proj/stack/outlink/placeholder": "",
	} {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "host", "secret.txt"), filepath.Join(root, "stack", "outlink", "secret.txt")); err != nil {
		t.Fatal(err)
	}
	return base, root
}

// TestCarry: files the stack reads relative to the project are carried into the bundle and the
// compose file points at the copies; host paths outside the project are warned about (bind
// mounts) or refused with the list.
func TestCarry(t *testing.T) {
	tests := []struct {
		name     string
		service  string            // the service's YAML (under services.s), or a top-level section
		top      string            // top-level sections
		want     map[string]string // entry name → content ("" for a directory)
		modes    map[string]os.FileMode
		rewrite  string // expected in the rewritten compose file
		warning  string
		wantErrs []string
	}{
		{name: "a relative bind mount", service: "volumes: ['./data:/var/lib/data:ro']",
			want: map[string]string{"app/files/stack/data": "", "app/files/stack/data/seed.sql": "insert"}, rewrite: "/app/files/stack/data:/var/lib/data:ro"},
		{name: "an absolute host path: a warning, left as it is", service: "volumes: ['/var/lib/x:/data']",
			rewrite: "", warning: "/var/lib/x is a host path outside the project"},
		{name: "the Docker socket: the inner engine's, no warning", service: "volumes: ['/var/run/docker.sock:/var/run/docker.sock']", rewrite: ""},
		{name: "the bundle's own certificates", service: "volumes: ['${CERT_DIR}:/certs:ro']", rewrite: ""},
		{name: "a variable only the container can give", service: "volumes: ['${DATA:?set DATA}:/data']", rewrite: "", warning: "left as it is for the container's environment"},
		{name: "a missing bind source: carried empty, as compose would create it", service: "volumes: ['./cache:/cache']",
			want: map[string]string{"app/files/stack/cache": ""}, rewrite: "/app/files/stack/cache:/cache"},
		{name: "env_file, also from outside the compose directory", service: "env_file: [./extra.env, ../shared/common.env]",
			want:  map[string]string{"app/files/stack/extra.env": "TOKEN=x\n", "app/files/shared/common.env": "B=2\n"},
			modes: map[string]os.FileMode{"app/files/stack/extra.env": 0o600}, rewrite: "/app/files/shared/common.env"},
		{name: "the project's .env is the bundle's", service: "env_file: .env", rewrite: "env_file: /app/.env"},
		{name: "a file under CONFIG_DIR is the bundled one", top: "configs:\n  nginx:\n    file: ./config/nginx.conf\n", rewrite: "/app/config/nginx.conf"},
		{name: "secrets file", top: "secrets:\n  db:\n    file: ./secrets/db.txt\n",
			want: map[string]string{"app/files/stack/secrets/db.txt": "pw"}, rewrite: "file: /app/files/stack/secrets/db.txt"},
		{name: "a private key carried is 0600", service: "volumes: ['./certs/tls.pem:/tls.pem']",
			want: map[string]string{"app/files/stack/certs/tls.pem": testKey}, rewrite: "/app/files/stack/certs/tls.pem:/tls.pem"},
		{name: "an optional env_file that is missing", service: "env_file: [{path: ./local.env, required: false}]", rewrite: ""},
		{name: "everything that cannot be carried, listed at once",
			service: "env_file: [/etc/environment, ./missing.env]\n    volumes: ['../../host:/h', './outlink:/o']",
			wantErrs: []string{
				"service s env_file /etc/environment is a host path outside the project root BASE/proj",
				"service s env_file ./missing.env not found",
				"service s volumes bind mount BASE/host lies outside the project root BASE/proj",
				"outlink/secret.txt",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			base, root := carryProject(t)
			text := "services:\n  s:\n    image: s:1\n"
			if tt.service != "" {
				text += "    " + tt.service + "\n"
			}
			text += tt.top
			doc, err := compose.References([]byte(text), filepath.Join(root, "stack"), map[string]string{"CERT_DIR": "/root/.esb/certs"})
			is.NoErr(err)
			c, err := Carry(doc, Stack{Root: root, ConfigDir: filepath.Join(root, "stack", "config"), DotEnv: filepath.Join(root, "stack", ".env"), CertTarget: "/root/.esb/certs"})
			if tt.wantErrs != nil {
				is.True(err != nil)
				for _, w := range tt.wantErrs {
					w = strings.ReplaceAll(w, "BASE", base)
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not list %q", err, w)
					}
				}
				return
			}
			is.NoErr(err)
			if tt.rewrite == "" {
				is.Equal(c.Compose, nil) // nothing to rewrite: the file is bundled as it is
			} else {
				is.True(strings.Contains(string(c.Compose), tt.rewrite)) // points at the copy
				var v any
				is.NoErr(yaml.Unmarshal(c.Compose, &v)) // still YAML
			}
			if tt.warning == "" {
				is.Equal(c.Warnings, nil)
			} else {
				is.Equal(len(c.Warnings), 1)
				is.True(strings.Contains(c.Warnings[0], tt.warning))
				if strings.Contains(tt.warning, "/var/lib/x") {
					is.True(strings.Contains(c.Warnings[0], "it mounts /var/lib/x of the DinD container")) // says what instead
				}
			}
			// Through Plan: the copies land in the context with their content and modes.
			entries, err := Plan(Bundle{ComposeFile: filepath.Join(root, "stack", "x.yml"), Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}},
				Images: []Entry{{Name: "manifest.json", Data: []byte("[]")}}, CertDir: root, Root: root, Stack: c})
			is.NoErr(err)
			got := map[string]Entry{}
			for _, e := range entries {
				got[e.Name] = e
			}
			for name, content := range tt.want {
				e, ok := got[name]
				is.True(ok) // carried
				if content == "" {
					is.True(e.Dir)
					continue
				}
				data, err := os.ReadFile(e.Src)
				is.NoErr(err)
				is.Equal(string(data), content)
			}
			for name, mode := range tt.modes {
				is.Equal(got[name].Mode, mode)
			}
			if e, ok := got["app/files/stack/certs/tls.pem"]; ok {
				is.Equal(e.Mode, os.FileMode(0o600)) // a private key, found by content
			}
			if c.Compose != nil {
				is.Equal(string(got["app/compose.yml"].Data), string(c.Compose))
			}
		})
	}
}
