// Package tarball is the project's one tar writer: build contexts, image layers and `docker
// load` archives are all written through it, so every generated entry carries the same fixed
// time (ModTime) and equal inputs give equal bytes (and equal layer digests).
//
// It owns only the tar encoding: it must not know what the entries mean (the bundle's layout,
// Dockerfiles, image configs), nor talk to the engine.
package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"time"
)

// ModTime is the time of every entry whose header gives none: the Unix epoch.
var ModTime = time.Unix(0, 0)

// Writer writes a tar stream whose entries carry ModTime unless their header sets a time.
type Writer struct {
	tw *tar.Writer
}

// NewWriter starts a tar stream on w; Close ends it.
func NewWriter(w io.Writer) *Writer { return &Writer{tw: tar.NewWriter(w)} }

// WriteHeader starts the entry h (ModTime when h has no time); its content follows through
// Write.
func (w *Writer) WriteHeader(h *tar.Header) error {
	if h.ModTime.IsZero() {
		h.ModTime = ModTime
	}
	return w.tw.WriteHeader(h)
}

// Write writes content of the current entry.
func (w *Writer) Write(p []byte) (int, error) { return w.tw.Write(p) }

// File writes a regular file entry holding data.
func (w *Writer) File(name string, mode int64, data []byte) error {
	if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	return nil
}

// Dir writes a directory entry; name gets its trailing slash.
func (w *Writer) Dir(name string, mode int64) error {
	name = strings.TrimSuffix(name, "/") + "/"
	if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	return nil
}

// Flush ends the current entry (its padding) without starting another: what follows in the
// underlying writer is the next entry's header.
func (w *Writer) Flush() error { return w.tw.Flush() }

// Close writes the end-of-archive marker. It does not close the underlying writer.
func (w *Writer) Close() error { return w.tw.Close() }
