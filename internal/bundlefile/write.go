package bundlefile

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// Source streams a docker-save archive entry by entry, and fails unless it was complete
// (engine.SaveEach bound to the bundle tag).
type Source func(fn EntryFunc) error

// EntryFunc receives one archive entry.
type EntryFunc = func(*tar.Header, io.Reader) error

// Result is what Write made.
type Result struct {
	Path, SumPath string
	Size          int64  // bytes of the file
	SHA256        string // hex
	OmittedFiles  int    // layer files left out
	OmittedBytes  int64  // their uncompressed size
}

// SumPath is the checksum file next to an export.
func SumPath(path string) string { return path + ".sha256" }

// Write streams the archive src through the compression c into path, after the describing
// entries, leaving out the bottom m.Omitted layers of m.Layers (a differential file), then
// writes path.sha256 (sha256sum's format). Both are written to a temporary file and renamed:
// an interrupted export leaves neither a partial file nor a checksum that matches one.
func Write(path string, m Meta, c layerstore.Compression, src Source) (Result, error) {
	m.Format, m.Compression = Format, c
	if m.Omitted < 0 || m.Omitted >= len(m.Layers) {
		return Result{}, fmt.Errorf("export %s: %d of %d layers to leave out: a file must carry at least one layer", path, m.Omitted, len(m.Layers))
	}
	header, err := Header(m)
	if err != nil {
		return Result{}, err
	}
	meta, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("export %s: %w", path, err)
	}
	// A layer left out must not be needed above the common chain too (the same diffID twice in
	// one image: docker save links the second to the first's file).
	omit := map[string]bool{}
	for _, d := range m.Layers[:m.Omitted] {
		omit[d] = true
	}
	for _, d := range m.Layers[m.Omitted:] {
		delete(omit, d)
	}
	// Old checksums go first: a file replaced without its new checksum must not verify.
	if err := os.Remove(SumPath(path)); err != nil && !os.IsNotExist(err) {
		return Result{}, fmt.Errorf("export: remove the old checksum %s: %w", SumPath(path), err)
	}
	out, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return Result{}, err
	}
	defer out.Abort()
	h := sha256.New()
	var size counter
	zw, err := c.NewWriter(io.MultiWriter(out, h, &size))
	if err != nil {
		return Result{}, fmt.Errorf("export %s: %w", path, err)
	}
	tw := tarball.NewWriter(zw)
	for _, e := range []struct {
		name string
		data []byte
	}{{HeaderName, header}, {MetaName, meta}} {
		// USTAR, one 512-byte header each: load.sh reads the description at byte 512.
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			return Result{}, fmt.Errorf("export %s: %w", path, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return Result{}, fmt.Errorf("export %s: %w", path, err)
		}
	}
	res := Result{Path: path, SumPath: SumPath(path)}
	w := &entryWriter{tw: tw, omit: omit, spoolDir: filepath.Dir(path), res: &res}
	if err := src(w.entry); err != nil {
		return Result{}, fmt.Errorf("export %s: %w", path, err)
	}
	if err := tw.Close(); err != nil {
		return Result{}, fmt.Errorf("export %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return Result{}, fmt.Errorf("export %s: %w", path, err)
	}
	if res.OmittedFiles < len(omit) {
		return Result{}, fmt.Errorf("export %s: the archive held %d of the %d layers to leave out: the engine's save format is not one this version knows; export without EXPORT_AGAINST", path, res.OmittedFiles, len(omit))
	}
	if err := out.Commit(); err != nil {
		return Result{}, err
	}
	res.Size, res.SHA256 = int64(size), hex.EncodeToString(h.Sum(nil))
	if err := atomicfile.Write(res.SumPath, []byte(res.SHA256+"  "+filepath.Base(path)+"\n"), 0o644); err != nil {
		return Result{}, err
	}
	return res, nil
}

type entryWriter struct {
	tw       *tarball.Writer
	omit     map[string]bool
	spoolDir string
	res      *Result
}

// entry copies one archive entry, unless it is a layer to leave out. A classic engine's
// `<id>/layer.tar` does not say which layer it is, so with layers to leave out each is spooled
// to disk while its digest is computed; an OCI layout's `blobs/sha256/<digest>` says it by name.
func (w *entryWriter) entry(h *tar.Header, r io.Reader) error {
	if len(w.omit) > 0 && h.Typeflag == tar.TypeReg {
		if hexd, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && w.omit["sha256:"+hexd] {
			w.res.OmittedFiles++
			w.res.OmittedBytes += h.Size
			_, err := io.Copy(io.Discard, r)
			return err
		}
		if strings.HasSuffix(h.Name, "/layer.tar") {
			return w.spooled(h, r)
		}
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	if _, err := io.Copy(w.tw, r); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

func (w *entryWriter) spooled(h *tar.Header, r io.Reader) error {
	spool, err := os.CreateTemp(w.spoolDir, ".export-layer.tmp-*") // atomicfile.Sweep's pattern: a killed export's spool is removed
	if err != nil {
		return fmt.Errorf("spool %s: %w", h.Name, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(spool, sum), r); err != nil {
		return fmt.Errorf("spool %s: %w", h.Name, err)
	}
	if w.omit["sha256:"+hex.EncodeToString(sum.Sum(nil))] {
		w.res.OmittedFiles++
		w.res.OmittedBytes += h.Size
		return nil
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool %s: %w", h.Name, err)
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	if _, err := io.CopyN(w.tw, spool, h.Size); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }
