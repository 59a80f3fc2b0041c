package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestNormalTag(t *testing.T) {
	for ref, want := range map[string]string{
		"foo":                   "docker.io/library/foo:latest",
		"foo:latest":            "docker.io/library/foo:latest",
		"docker.io/library/foo": "docker.io/library/foo:latest",
		"library/foo:1":         "docker.io/library/foo:1",
		"reg.local:5000/a/b:v1": "reg.local:5000/a/b:v1",
		"foo:1@sha256:" + strings.Repeat("a", 64): "docker.io/library/foo:1",
		"foo@sha256:" + strings.Repeat("a", 64):   "", // by digest only: no tag to take over
		"Not A Reference":                         "",
	} {
		is.New(t).Equal(NormalTag(ref), want) // ref
	}
}

// TestBundleTagNeverNamesAnInput: BUNDLE_TAG equal to DIND_BASE_IMAGE, however spelled, is refused
// when the configuration is read; equal to an image of the stack, by CheckBundleTag.
func TestBundleTagNeverNamesAnInput(t *testing.T) {
	runErrCases(t, []errCase{
		{name: "BUNDLE_TAG = DIND_BASE_IMAGE", environ: []string{"BUNDLE_TAG=dind:1", "DIND_BASE_IMAGE=dind:1"}, want: []string{"BUNDLE_TAG=dind:1", "DIND_BASE_IMAGE=dind:1", "docker.io/library/dind:1", "choose another BUNDLE_TAG"}},
		{name: "the same image spelled otherwise", environ: []string{"BUNDLE_TAG=foo", "DIND_BASE_IMAGE=docker.io/library/foo:latest"}, want: []string{"BUNDLE_TAG=foo", "DIND_BASE_IMAGE=docker.io/library/foo:latest"}},
	})
	runLoadCases(t, []loadCase{
		{name: "another tag of the base's repository", environ: []string{"BUNDLE_TAG=foo:bundle", "DIND_BASE_IMAGE=foo:latest"}, check: func(is *is.I, c Config, wd string) {}},
	})

	is := is.New(t)
	c, err := Load([]string{"BUNDLE_TAG=docker.io/acme/web"}, t.TempDir())
	is.NoErr(err)
	err = c.CheckBundleTag("the compose file's service web", []string{"postgres:16", "acme/web:latest"})
	is.True(errors.Is(err, ErrClash))
	is.True(strings.Contains(err.Error(), "BUNDLE_TAG=docker.io/acme/web names the same image as acme/web:latest of the compose file's service web"))
	is.NoErr(c.CheckBundleTag("the manifest", []string{"acme/web:1", "acme/web@sha256:" + strings.Repeat("b", 64)}))
}
