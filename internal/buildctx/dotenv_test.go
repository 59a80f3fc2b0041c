package buildctx

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/matryer/is"
)

// The generated .env keeps its storage keys from one build to the next while it fits the
// settings, so a project without a .env does not rebuild its bundle every run; a project's own
// .env is used as it is.
func TestBundleDotEnv(t *testing.T) {
	const kept = "ENV=dev\nRUSTFS_ACCESS_KEY=old1\nRUSTFS_SECRET_KEY=old2\nCERT_DIR=/certs\n"
	tests := []struct {
		name    string
		project string // "" for none
		kept    string // "" for none
		env     string
		vars    map[string]string
		want    string
	}{
		{"the project's own", "A=1\n", kept, "dev", nil, "A=1\nCERT_DIR=/certs\n"},
		{"generated", "", "", "dev", nil, "ENV=dev\nRUSTFS_ACCESS_KEY=s1\nRUSTFS_SECRET_KEY=s2\nCERT_DIR=/certs\n"},
		{"kept", "", kept, "dev", nil, kept},
		{"kept, the configured key the same", "", kept, "dev", map[string]string{"RUSTFS_ACCESS_KEY": "old1"}, kept},
		{"another ENV", "", kept, "prod", nil, "ENV=prod\nRUSTFS_ACCESS_KEY=s1\nRUSTFS_SECRET_KEY=s2\nCERT_DIR=/certs\n"},
		{"a key configured", "", kept, "dev", map[string]string{"RUSTFS_SECRET_KEY": "mine"}, "ENV=dev\nRUSTFS_ACCESS_KEY=s1\nRUSTFS_SECRET_KEY=mine\nCERT_DIR=/certs\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			r := DotEnvRequest{Project: filepath.Join(dir, ".env"), Kept: filepath.Join(dir, "build", "state", "generated.env"), Env: tt.env, CertTarget: "/certs", Vars: tt.vars}
			if tt.project != "" {
				is.NoErr(os.WriteFile(r.Project, []byte(tt.project), 0o644))
			}
			if tt.kept != "" {
				is.NoErr(os.MkdirAll(filepath.Dir(r.Kept), 0o755))
				is.NoErr(os.WriteFile(r.Kept, []byte(tt.kept), 0o600))
			}
			n := 0
			r.Secret = func() (string, error) { n++; return "s" + strconv.Itoa(n), nil }
			got, err := BundleDotEnv(r)
			is.NoErr(err)
			is.Equal(string(got), tt.want)
			if tt.project != "" {
				return
			}
			data, err := os.ReadFile(r.Kept)
			is.NoErr(err)
			is.Equal(string(data), tt.want) // what the next build finds
			info, err := os.Stat(r.Kept)
			is.NoErr(err)
			is.Equal(info.Mode().Perm(), os.FileMode(0o600)) // it holds the storage keys
		})
	}
}
