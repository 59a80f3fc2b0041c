package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestTemplatesAreComparedByTheFileTheyReach: one template given twice through a symbolic link,
// a linked directory or a hard link is refused naming both spellings (its producer ran twice).
func TestTemplatesAreComparedByTheFileTheyReach(t *testing.T) {
	tests := []struct {
		name  string
		setup func(wd string) error
		list  string
	}{
		{"a link to the template", func(wd string) error { return os.Symlink("sam/t.yaml", filepath.Join(wd, "link.yaml")) }, "sam/t.yaml,link.yaml"},
		{"a linked directory", func(wd string) error { return os.Symlink("sam", filepath.Join(wd, "other")) }, "other/t.yaml,sam/t.yaml"},
		{"a hard link", func(wd string) error { return os.Link(filepath.Join(wd, "sam/t.yaml"), filepath.Join(wd, "hard.yaml")) }, "sam/t.yaml,hard.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			wd := workspace(t, map[string]string{"sam/t.yaml": "Resources: {}\n", "sam/u.yaml": "Resources: {}\n"})
			is.NoErr(tt.setup(wd))
			_, err := Load([]string{"TEMPLATE=" + tt.list}, wd)
			is.True(err != nil)
			for _, p := range strings.Split(tt.list, ",") {
				is.True(strings.Contains(err.Error(), filepath.Join(wd, p))) // both spellings named
			}
			is.True(strings.Contains(err.Error(), "the same file"))
		})
	}
	// Two files of equal content are two templates.
	wd := workspace(t, map[string]string{"sam/t.yaml": "Resources: {}\n", "sam/u.yaml": "Resources: {}\n"})
	c, err := Load([]string{"TEMPLATE=sam/t.yaml,sam/u.yaml"}, wd)
	is.New(t).NoErr(err)
	is.New(t).Equal(len(c.Templates), 2)
}
