package ocilayout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
)

// TestCopyImage: an image goes from one layout into another as hard links to the source's
// files (one file system here), the blobs the destination has left alone; the destination can
// then name and read it; an image the source lacks is an error naming it.
func TestCopyImage(t *testing.T) {
	is := is.New(t)
	from, err := Open(t.TempDir())
	is.NoErr(err)
	defer from.Close()
	to, err := Open(t.TempDir())
	is.NoErr(err)
	defer to.Close()
	is.NoErr(from.Tag("fn:t", writeImage(t, from, "base", "top")))
	writeImage(t, to, "base") // the destination has the base layer already

	img, c, err := CopyImage(from, to, "fn:t")
	is.NoErr(err)
	is.Equal(c, Copied{Linked: 3, Had: 1}) // top layer, config, manifest; the base was there
	for _, b := range append(img.Layers, img.Config, img.Manifest) {
		a, err := os.Stat(from.BlobPath(b.Digest))
		is.NoErr(err)
		d, err := os.Stat(to.BlobPath(b.Digest))
		is.NoErr(err)
		if b.Digest != img.Layers[0].Digest {
			is.True(os.SameFile(a, d)) // linked, not copied
		}
	}
	is.NoErr(to.Tag("fn:t", img.Manifest))
	got, err := to.Image("fn:t")
	is.NoErr(err)
	is.Equal(got.Manifest.Digest, img.Manifest.Digest)

	_, c, err = CopyImage(from, to, "fn:t") // again: all there
	is.NoErr(err)
	is.Equal(c, Copied{Had: 4})

	_, _, err = CopyImage(from, to, "missing:t")
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "missing:t"))
}

// TestCopyVerified: a copy (another file system) is written whole under the blob's name only when
// its content has the digest; a blob that does not match leaves nothing behind.
func TestCopyVerified(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	is.NoErr(os.WriteFile(src, []byte("layer"), 0o644))
	dst := filepath.Join(dir, "blobs", "sha256", "x")
	n, err := copyVerified(src, dst, digest.FromString("layer"))
	is.NoErr(err)
	is.Equal(n, int64(5))
	b, err := os.ReadFile(dst)
	is.NoErr(err)
	is.Equal(string(b), "layer")

	bad := filepath.Join(dir, "blobs", "sha256", "y")
	_, err = copyVerified(src, bad, digest.FromString("other"))
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "does not match its digest"))
	entries, err := os.ReadDir(filepath.Dir(bad))
	is.NoErr(err)
	is.Equal(len(entries), 1) // x alone: no y, no temporary file
}

// TestCopyImageAcrossFileSystems: a destination on another file system (/dev/shm, a tmpfs, when
// the test directory is not one) gets copies, checked against their digests, not links.
func TestCopyImageAcrossFileSystems(t *testing.T) {
	is := is.New(t)
	shm, err := os.MkdirTemp("/dev/shm", "ocilayout-copy-")
	if err != nil {
		t.Skipf("no /dev/shm to copy to: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	from, err := Open(t.TempDir())
	is.NoErr(err)
	defer from.Close()
	to, err := Open(shm)
	is.NoErr(err)
	defer to.Close()
	desc := writeImage(t, from, "base", "top")
	is.NoErr(from.Tag("fn:t", desc))
	if err := os.Link(from.BlobPath(desc.Digest), filepath.Join(shm, "probe")); err == nil {
		t.Skip("/dev/shm is the test directory's file system here")
	}
	img, c, err := CopyImage(from, to, "fn:t")
	is.NoErr(err)
	is.Equal(c.Copied, 4)
	is.Equal(c.Linked, 0)
	is.True(c.CopiedBytes > 0)
	is.NoErr(to.Tag("fn:t", img.Manifest))
	got, err := to.Image("fn:t")
	is.NoErr(err)
	is.Equal(got.Layers, img.Layers)
}
