package buildkit

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/opencontainers/go-digest"
)

// TestExportedImage: the image the OCI exporter wrote is read from Solve's response; a response
// without it, or with something else there, is an error that names the key.
func TestExportedImage(t *testing.T) {
	d := digest.FromString("manifest")
	good := base64.StdEncoding.EncodeToString([]byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":42}`))
	tests := []struct {
		resp    map[string]string
		wantErr string
	}{
		{resp: map[string]string{exptypes.ExporterImageDescriptorKey: good}},
		{resp: map[string]string{}, wantErr: "names no image"},
		{resp: map[string]string{exptypes.ExporterImageDescriptorKey: "%%%"}, wantErr: exptypes.ExporterImageDescriptorKey},
		{resp: map[string]string{exptypes.ExporterImageDescriptorKey: base64.StdEncoding.EncodeToString([]byte("["))}, wantErr: exptypes.ExporterImageDescriptorKey},
	}
	for _, tt := range tests {
		is := is.New(t)
		desc, err := exportedImage(tt.resp)
		if tt.wantErr != "" {
			is.True(err != nil && strings.Contains(err.Error(), tt.wantErr))
			continue
		}
		is.NoErr(err)
		is.Equal(desc.Digest, d)
		is.Equal(desc.Size, int64(42))
	}
}
