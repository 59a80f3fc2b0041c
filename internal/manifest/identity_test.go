package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestCheck(t *testing.T) {
	layers := []string{"sha256:l1", "sha256:l2"}
	other := []string{"sha256:l1", "sha256:l3"}
	classic := Seen{ID: "sha256:cfg", Config: "sha256:cfg", DiffIDs: layers}  // classic store: the ID is the config digest
	containerd := Seen{ID: "sha256:man", DiffIDs: layers}                     // containerd store, before an export
	exported := Seen{ID: "sha256:man", Config: "sha256:cfg", DiffIDs: layers} // containerd store, after an export
	tests := []struct {
		name    string
		img     Image
		seen    Seen
		wantErr string // "" → same image; "undecided" → ErrUndecided
	}{
		{"classic digest on the classic store", Image{Digest: "sha256:cfg"}, classic, ""},
		{"classic digest with identity", Image{Digest: "sha256:cfg", Config: "sha256:cfg", DiffIDs: layers}, classic, ""},
		{"manifest digest, same engine", Image{Digest: "sha256:man"}, containerd, ""},
		{"manifest digest after the export", Image{Digest: "sha256:man"}, exported, ""},
		{"config digest on the containerd store, after the export", Image{Digest: "sha256:cfg"}, exported, ""},
		{"config digest on the containerd store, before the export", Image{Digest: "sha256:cfg", DiffIDs: layers}, containerd, "undecided"},
		{"recorded config decides over another digest form", Image{Digest: "sha256:man", Config: "sha256:cfg", DiffIDs: layers}, classic, ""},
		{"other layers", Image{Digest: "sha256:cfg", DiffIDs: other}, classic, "its layers are [l1 l2], the manifest records [l1 l3]"},
		{"other layers, before the export", Image{Digest: "sha256:old", DiffIDs: other}, containerd, "its layers are"},
		{"other config", Image{Digest: "sha256:x", Config: "sha256:old"}, exported, "its config digest is sha256:cfg, the manifest records sha256:old"},
		{"other digest on the classic store", Image{Digest: "sha256:old"}, classic, "its ID is sha256:cfg (config sha256:cfg), the manifest records sha256:old"},
		{"other digest after the export", Image{Digest: "sha256:old"}, exported, "the manifest records sha256:old"},
		{"no digest", Image{}, classic, "no digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			err := tt.img.Check(tt.seen)
			switch tt.wantErr {
			case "":
				is.NoErr(err)
			case "undecided":
				is.True(errors.Is(err, ErrUndecided))
			default:
				is.True(err != nil)
				is.True(!errors.Is(err, ErrUndecided))
				is.True(strings.Contains(err.Error(), tt.wantErr)) // says what differs
			}
		})
	}
}
