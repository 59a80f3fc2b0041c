package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Seen is an image as an engine or the layer store reports it.
type Seen struct {
	ID      string   // the engine's image ID: the config digest, or the manifest digest (containerd image store)
	Config  string   // the config digest; "" when the engine does not tell it (containerd image store)
	DiffIDs []string // the layers' diffIDs, base first
}

// ErrUndecided: only the config digest can tell whether the images are the same, and the engine
// did not report it (its image IDs are manifest digests); an export tells.
var ErrUndecided = errors.New("the engine's image ID is a manifest digest: only an export tells the config digest")

// Check reports whether img is the image seen: nil when it is, an error saying what differs when
// it is not, ErrUndecided when what is known agrees but cannot decide.
//
// The diffIDs and the config digest are compared where both sides know them. The manifest's
// digest may be either form of image ID: it matches the engine's ID or the config digest; a
// digest matching neither is a different image, unless the recorded config digest matches (the
// same image, recorded by an engine with the other store).
func (img Image) Check(s Seen) error {
	if img.DiffIDs != nil && s.DiffIDs != nil && !slices.Equal(img.DiffIDs, s.DiffIDs) {
		return fmt.Errorf("its layers are %s, the manifest records %s", shortList(s.DiffIDs), shortList(img.DiffIDs))
	}
	if img.Config != "" && s.Config != "" {
		if img.Config != s.Config {
			return fmt.Errorf("its config digest is %s, the manifest records %s", s.Config, img.Config)
		}
		return nil
	}
	switch {
	case img.Digest == "":
		return errors.New("the manifest records no digest for it")
	case img.Digest == s.ID || img.Digest == s.Config:
		return nil
	case s.Config == "":
		return ErrUndecided
	}
	return fmt.Errorf("its ID is %s (config %s), the manifest records %s", s.ID, s.Config, img.Digest)
}

// shortList prints diffIDs compactly for error messages.
func shortList(ds []string) string {
	short := make([]string, len(ds))
	for i, d := range ds {
		d = strings.TrimPrefix(d, "sha256:")
		if len(d) > 12 {
			d = d[:12]
		}
		short[i] = d
	}
	return "[" + strings.Join(short, " ") + "]"
}
