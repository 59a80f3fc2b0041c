package layerfile

import (
	"testing"

	"github.com/matryer/is"
)

// Parse is the one reading of a compression's name (BUNDLE_COMPRESSION, EXPORT_COMPRESSION).
func TestParse(t *testing.T) {
	tests := []struct {
		name string
		want Compression
		ok   bool
	}{
		{"none", None, true},
		{"gzip", Gzip, true},
		{"zstd", Zstd, true},
		{"", "", false},
		{"xz", "", false},
		{"GZIP", "", false}, // callers trim and lower-case what users write
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, ok := Parse(tt.name)
			is.Equal(ok, tt.ok)
			is.Equal(got, tt.want)
		})
	}
}
