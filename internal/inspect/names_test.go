package inspect

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestReportRefusesABadManifest: a bundle whose manifest names an image like a path (or holds a
// digest that is none) is refused naming it, before the report prints or compares anything.
func TestReportRefusesABadManifest(t *testing.T) {
	is := is.New(t)
	bad := `{"schema_version":"1.1","templates":[{"path":"t.yaml"}],"build":{},"images":[{"name":"../../etc/passwd","digest":"sha256:` + strings.Repeat("a", 64) + `","kind":"function"}]}`
	app := tarOf(t, map[string][]byte{"app/bundle/manifest.json": []byte(bad)})
	s := NewScanner("bundle:1")
	is.NoErr(s.Entry(&tar.Header{Name: "l1/layer.tar", Size: int64(len(app)), Typeflag: tar.TypeReg}, bytes.NewReader(app)))
	_, err := s.Report(time.Now())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), `image "../../etc/passwd" is not a valid image reference`))
}
