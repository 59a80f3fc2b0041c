package config

import (
	"errors"
	"fmt"

	"github.com/distribution/reference"
)

// NormalTag is the tag an image reference names, spelled out in full as the engine resolves it
// (`foo` is docker.io/library/foo:latest); "" when ref is no valid reference or names an image
// only by digest (no tag the bundle could take over).
func NormalTag(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	if tagged, ok := named.(reference.Tagged); ok {
		return named.Name() + ":" + tagged.Tag()
	}
	if _, ok := named.(reference.Digested); ok {
		return ""
	}
	return named.Name() + ":latest"
}

// ErrClash marks an error of two things that name the same image (BUNDLE_TAG and an input, two
// templates and one function): a dry run fails on it too, as a run would before any work.
var ErrClash = errors.New("names clash")

// CheckBundleTag refuses a BUNDLE_TAG that names one of images, the bundle's inputs (what says
// which: "the compose file's service web", "the manifest"): tagging the bundle would take the
// tag from the input, the next run would call it stale, and FORCE=1 would bundle the previous
// bundle in its place. Names are compared as the engine resolves them.
func (c Config) CheckBundleTag(what string, images []string) error {
	bundle := NormalTag(c.BundleTag)
	for _, img := range images {
		if bundle != "" && NormalTag(img) == bundle {
			return fmt.Errorf("%w: BUNDLE_TAG=%s names the same image as %s of %s (both are %s): the bundle would replace an image it carries; choose another BUNDLE_TAG", ErrClash, c.BundleTag, img, what, bundle)
		}
	}
	return nil
}
