package madeimages_test

import (
	"path/filepath"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/madeimages"
)

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		recorded, keep []string
		want           []string
	}{
		{"nothing recorded", nil, []string{"sha256:b"}, nil},
		{"only what is in use", []string{"sha256:b", "sha256:l"}, []string{"sha256:b", "sha256:l"}, nil},
		{"replaced bundle and layers image", []string{"sha256:b1", "sha256:l1", "sha256:b2", "sha256:l2"}, []string{"sha256:b2", "sha256:l2"}, []string{"sha256:b1", "sha256:l1"}},
		{"interrupted run's image, nothing current yet", []string{"sha256:x"}, []string{""}, []string{"sha256:x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(madeimages.Plan(tc.recorded, tc.keep), tc.want)
		})
	}
}

func TestJournalAdd(t *testing.T) {
	is := is.New(t)
	j := madeimages.Journal{Path: filepath.Join(t.TempDir(), "state", "made-images.json")}
	is.Equal(len(j.Read()), 0)
	is.NoErr(j.Add("sha256:a", "", "sha256:b"))
	is.NoErr(j.Add("sha256:a"))
	is.Equal(j.Read(), []string{"sha256:a", "sha256:b"})
}
