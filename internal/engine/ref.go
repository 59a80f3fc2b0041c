package engine

import "github.com/distribution/reference"

// FamiliarRef is ref as users write it and `docker save` writes RepoTags: the tag the engine
// assumes (:latest) added when ref names neither tag nor digest, no docker.io/library/ prefix.
// It fails on what is not an image reference.
func FamiliarRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}
