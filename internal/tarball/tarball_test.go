package tarball_test

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/tarball"
)

func TestWriter(t *testing.T) {
	is := is.New(t)
	own := time.Unix(1_700_000_000, 0)
	write := func() []byte {
		var buf bytes.Buffer
		w := tarball.NewWriter(&buf)
		is.NoErr(w.Dir("d", 0o755))
		is.NoErr(w.File("d/a", 0o644, []byte("a\n")))
		is.NoErr(w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "d/b", Mode: 0o600, Size: 2, ModTime: own}))
		_, err := w.Write([]byte("b\n"))
		is.NoErr(err)
		is.NoErr(w.Close())
		return buf.Bytes()
	}
	first := write()
	is.Equal(first, write()) // equal inputs, equal bytes

	tr := tar.NewReader(bytes.NewReader(first))
	want := []struct {
		name    string
		typ     byte
		content string
		mtime   time.Time
	}{
		{"d/", tar.TypeDir, "", tarball.ModTime},
		{"d/a", tar.TypeReg, "a\n", tarball.ModTime},
		{"d/b", tar.TypeReg, "b\n", own}, // a time of its own is kept
	}
	for _, w := range want {
		h, err := tr.Next()
		is.NoErr(err)
		is.Equal(h.Name, w.name)
		is.Equal(h.Typeflag, w.typ)
		is.True(h.ModTime.Equal(w.mtime))
		data, err := io.ReadAll(tr)
		is.NoErr(err)
		is.Equal(string(data), w.content)
	}
	_, err := tr.Next()
	is.Equal(err, io.EOF)
}
