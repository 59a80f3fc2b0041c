package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/manifest"
)

// testKey is a PEM private key block (its DER is not checked by the content test).
const testKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"

// TestPlanProtectsKeysByContent: every certificate or config file holding a private key is 0600
// in the bundle, whatever its name; other files keep their mode.
func TestPlanProtectsKeysByContent(t *testing.T) {
	tests := []struct {
		name, rel, content string
		wantMode           os.FileMode
	}{
		{"a key named *.pem in CERT_DIR", "certs/tls.pem", testKey, 0o600},
		{"a key appended to a certificate", "certs/chain.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + testKey, 0o600},
		{"a *.key that holds no key", "certs/notes.key", "not a key\n", 0o644},
		{"a certificate", "certs/ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0o644},
		{"a key in CONFIG_DIR", "config/nginx/site.pem", testKey, 0o600},
		{"an OpenSSH key in CONFIG_DIR", "config/deploy_id", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", 0o600},
		{"a config file", "config/app.conf", "x = 1\n", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir, err := filepath.EvalSymlinks(t.TempDir())
			is.NoErr(err)
			for _, f := range []struct{ rel, content string }{{tt.rel, tt.content}, {"compose.yml", "services: {}\n"}, {"m.json", "{}"}} {
				p := filepath.Join(dir, f.rel)
				is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
				is.NoErr(os.WriteFile(p, []byte(f.content), 0o644))
			}
			is.NoErr(os.MkdirAll(filepath.Join(dir, "certs"), 0o755))
			b := Bundle{ComposeFile: filepath.Join(dir, "compose.yml"), Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}},
				Images: []Entry{{Name: "manifest.json", Data: []byte("[]")}}, CertDir: filepath.Join(dir, "certs"),
				ConfigDir: filepath.Join(dir, "config"), Root: dir}
			is.NoErr(os.MkdirAll(b.ConfigDir, 0o755))
			name := "app/" + tt.rel
			if rel, ok := strings.CutPrefix(tt.rel, "certs/"); ok {
				b.CertFiles = []string{rel}
				name = tt.rel
			}
			entries, err := Plan(b)
			is.NoErr(err)
			found := false
			for _, e := range entries {
				if e.Name == name {
					found = true
					is.Equal(e.Mode, tt.wantMode)
				}
			}
			is.True(found) // the file is bundled
		})
	}
}

// TestTreeFollowsLinks: a linked directory under CONFIG_DIR is bundled with its content when it
// lies inside the project root; a link out of the root, a dangling link and a loop are refused,
// naming the link and the root.
func TestTreeFollowsLinks(t *testing.T) {
	tests := []struct {
		name    string
		link    string // under config/
		target  string // relative to the temporary directory holding project/ and host/
		want    map[string]string
		wantErr string
	}{
		{"a linked directory inside the project", "shared", "project/shared", map[string]string{"app/config/shared/a.conf": "project/shared/a.conf"}, ""},
		{"a linked file inside the project", "one.conf", "project/shared/a.conf", map[string]string{"app/config/one.conf": "project/shared/a.conf"}, ""},
		{"a link to a host secret", "shadow", "host/shadow", nil, "outside the project root"},
		{"a link to a host directory", "etc", "host", nil, "outside the project root"},
		{"a dangling link", "gone", "project/nothing", nil, "symbolic link to nothing"},
		{"a loop", "again", "project/config", nil, "a loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			base, err := filepath.EvalSymlinks(t.TempDir())
			is.NoErr(err)
			for _, rel := range []string{"project/config/app.conf", "project/shared/a.conf", "host/shadow"} {
				p := filepath.Join(base, rel)
				is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
				is.NoErr(os.WriteFile(p, []byte(rel), 0o644))
			}
			root := filepath.Join(base, "project")
			is.NoErr(os.Symlink(filepath.Join(base, tt.target), filepath.Join(root, "config", tt.link)))
			entries, err := Tree(filepath.Join(root, "config"), root, "app/config", 0, 0)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				is.True(strings.Contains(err.Error(), filepath.Join(root, "config", tt.link))) // names the link
				return
			}
			is.NoErr(err)
			got := map[string]string{}
			for _, e := range entries {
				if e.Src != "" {
					data, err := os.ReadFile(e.Src)
					is.NoErr(err)
					got[e.Name] = string(data)
				}
			}
			is.Equal(got["app/config/app.conf"], "project/config/app.conf")
			for name, content := range tt.want {
				is.Equal(got[name], content) // bundled with its content
			}
		})
	}
}
