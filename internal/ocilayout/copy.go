package ocilayout

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// Copied is what CopyImage did with the image's blobs: linked (a hard link to the source's
// file), copied (a different file system: its bytes written), or left alone (the destination had
// it).
type Copied struct {
	Linked, Copied, Had int
	CopiedBytes         int64
}

// CopyImage puts the image named name in from into to, without naming it there (the caller
// does, or keeps its manifest's descriptor elsewhere), and returns it as from has it. A blob to
// has is left alone; one it lacks is hard-linked to from's file where both are on one file
// system, else copied — checked against its digest, into a temporary file renamed into place.
// Layers go first, the manifest last: a reader that finds the manifest finds the rest.
func CopyImage(from, to *Layout, name string) (Image, Copied, error) {
	img, err := from.Image(name)
	if err != nil {
		return Image{}, Copied{}, err
	}
	var c Copied
	for _, b := range append(append(append([]ocispec.Descriptor(nil), img.Layers...), img.Config), img.Manifest) {
		if err := copyBlobFile(from, to, b, &c); err != nil {
			return Image{}, c, fmt.Errorf("copy image %s from the OCI layout %s to %s: %w", name, from.dir, to.dir, err)
		}
	}
	return img, c, nil
}

// copyBlobFile puts blob b of from into to (see CopyImage), counting what it did in c.
func copyBlobFile(from, to *Layout, b ocispec.Descriptor, c *Copied) error {
	if err := b.Digest.Validate(); err != nil {
		return err
	}
	src, dst := from.BlobPath(b.Digest), to.BlobPath(b.Digest)
	if _, err := os.Stat(dst); err == nil {
		c.Had++
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	err := os.Link(src, dst)
	switch {
	case err == nil:
		c.Linked++
		return nil
	case errors.Is(err, fs.ErrExist): // written meanwhile by another export
		c.Had++
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	// Another file system (or one without hard links): a copy.
	n, err := copyVerified(src, dst, b.Digest)
	if err != nil {
		return err
	}
	c.Copied++
	c.CopiedBytes += n
	return nil
}

// copyVerified copies src to dst (temp file + rename) when its content has the digest d.
func copyVerified(src, dst string, d digest.Digest) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return 0, err
	}
	defer out.Abort()
	verify := d.Verifier()
	n, err := io.Copy(io.MultiWriter(out, verify), in)
	if err != nil {
		return n, fmt.Errorf("copy blob %s: %w", d, err)
	}
	if !verify.Verified() {
		return n, fmt.Errorf("blob %s in %s does not match its digest (remove it: the next export writes it again)", d, src)
	}
	return n, out.Commit()
}
