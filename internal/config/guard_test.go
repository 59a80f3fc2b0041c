package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestConfigDirAndProjectRoot: an explicit CONFIG_DIR must exist (a typo would ship an empty
// /app/config); the default may be absent. PROJECT_ROOT is resolved against the working directory.
func TestConfigDirAndProjectRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		environ   []string
		wantDir   string
		wantRoot  string
		wantError string
	}{
		{"default absent: no config dir", nil, "", "", ""},
		{"explicit and present", []string{"CONFIG_DIR=conf"}, filepath.Join(dir, "conf"), "", ""},
		{"explicit with a typo", []string{"CONFIG_DIR=cnof"}, "", "", "CONFIG_DIR=" + filepath.Join(dir, "cnof") + ": directory not found"},
		{"explicit, naming a file", []string{"CONFIG_DIR=settings"}, "", "", "CONFIG_DIR=" + filepath.Join(dir, "settings") + ": directory not found"},
		{"PROJECT_ROOT relative", []string{"PROJECT_ROOT=.."}, "", filepath.Dir(dir), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			c, err := Load(tt.environ, dir)
			if tt.wantError != "" {
				is.True(err != nil && strings.Contains(err.Error(), tt.wantError))
				return
			}
			is.NoErr(err)
			is.Equal(c.ConfigDir, tt.wantDir)
			is.Equal(c.ProjectRoot, tt.wantRoot)
		})
	}
}
