package engine

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dindbundler/dindbundler/atomicfile"
	"github.com/docker/docker/client"
)

// Compression is how Save encodes the archive. Engine 20.10's `docker load` reads plain and
// gzip archives but not zstd (that arrived in Engine 23.0), so those are the two offered.
type Compression string

const (
	CompressionNone Compression = "none"
	CompressionGzip Compression = "gzip"
)

// compressors is the one place a new Compression is added: a name, a file extension, and a
// function wrapping the destination. Close on the returned writer must flush everything.
var compressors = map[Compression]struct {
	ext  string
	wrap func(io.Writer) (io.WriteCloser, error)
}{
	CompressionNone: {".tar", func(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil }},
	// BestSpeed: classic `docker save` layers are uncompressed, so most of the gain comes at the
	// fastest level, and the default level costs several times the CPU on a large archive.
	CompressionGzip: {".tar.gz", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestSpeed) }},
}

// ParseCompression reads a configured compression name; empty means none.
func ParseCompression(s string) (Compression, error) {
	c := Compression(strings.ToLower(strings.TrimSpace(s)))
	if c == "" {
		return CompressionNone, nil
	}
	if _, ok := compressors[c]; !ok {
		return "", fmt.Errorf("unknown compression %q: use one of %s", s, strings.Join(compressionNames(), ", "))
	}
	return c, nil
}

// Ext is the archive's file extension: ".tar", ".tar.gz".
func (c Compression) Ext() string {
	if c == "" {
		c = CompressionNone
	}
	return compressors[c].ext
}

func compressionNames() []string {
	// Fixed order for a stable message.
	return []string{string(CompressionNone), string(CompressionGzip)}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Save writes one archive of all names to dest (shared layers stored once, as `docker save`
// does), compressed as c. The archive streams from the engine to disk; dest appears only once
// the archive is complete, so an interrupted save never leaves a file that looks finished.
func Save(ctx context.Context, api client.ImageAPIClient, names []string, dest string, c Compression) error {
	if c == "" {
		c = CompressionNone
	}
	comp, ok := compressors[c]
	if !ok {
		return fmt.Errorf("save %s: unknown compression %q", dest, c)
	}
	f, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return fmt.Errorf("save %s: %w", dest, err)
	}
	defer f.Abort()
	w, err := comp.wrap(f.File)
	if err != nil {
		return fmt.Errorf("save %s: %w", dest, err)
	}
	if err := SaveTo(ctx, api, names, w); err != nil {
		return fmt.Errorf("%w (writing %s)", err, dest)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("save %s: %w", dest, err)
	}
	return f.Commit()
}

// SaveTo streams one uncompressed `docker save` archive of names into w. The archive is checked
// as it passes (it must be a complete tar holding manifest.json) because the engine reports a
// failure after it has started sending by appending an error to the stream, with HTTP 200.
func SaveTo(ctx context.Context, api client.ImageAPIClient, names []string, w io.Writer) error {
	what := strings.Join(names, ", ")
	if len(names) == 0 {
		return errors.New("save: no images given")
	}
	body, err := api.ImageSave(ctx, names)
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	defer body.Close()
	// The tar reader asks for 512-byte headers; buffering keeps writes to w large.
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := copyArchive(bw, body); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// SaveEach streams one uncompressed `docker save` archive of names and hands each entry to fn
// (header, and a reader of the entry's content) as it arrives, so callers can store the layers
// without ever holding the archive. The same completeness checks as SaveTo apply, after the last
// entry: only a nil result means fn saw a whole archive.
func SaveEach(ctx context.Context, api client.ImageAPIClient, names []string, fn func(*tar.Header, io.Reader) error) error {
	what := strings.Join(names, ", ")
	if len(names) == 0 {
		return errors.New("save: no images given")
	}
	body, err := api.ImageSave(ctx, names)
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	defer body.Close()
	if err := walkArchive(bufio.NewReaderSize(body, 1<<20), fn); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// Load streams a `docker load` archive into the engine, rendering its progress on progress (nil
// for quiet) and returning the errors the response stream carries.
func Load(ctx context.Context, api client.ImageAPIClient, archive io.Reader, progress io.Writer) error {
	resp, err := api.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(progress == nil))
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer resp.Body.Close()
	if !resp.JSON {
		_, err = io.Copy(orDiscard(progress), resp.Body)
	} else {
		err = display(resp.Body, progress, nil)
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// copyArchive copies the tar stream r to w byte for byte while checking it (see walkArchive).
func copyArchive(w io.Writer, r io.Reader) error {
	return walkArchive(io.TeeReader(r, w), nil)
}

// walkArchive reads the tar stream r, handing each entry to fn (when not nil), and fails unless
// the stream is complete: manifest.json present, end-of-archive marker reached, nothing but zero
// padding after it.
func walkArchive(r io.Reader, fn func(*tar.Header, io.Reader) error) error {
	tail := &zeroTail{w: io.Discard}
	tee := io.TeeReader(r, tail)
	tr := tar.NewReader(tee)
	sawManifest := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive stream: %w", err)
		}
		if h.Name == "manifest.json" {
			sawManifest = true
		}
		if fn != nil {
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	}
	// archive/tar reports a clean EOF both after the end-of-archive marker and when the stream
	// simply stops between two entries; only the marker (two zero blocks) means complete.
	markerSeen := tail.total-tail.lastNonZero >= 2*512
	end := tail.total
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("read archive stream: %w", err)
	}
	if tail.lastNonZero > end {
		return errors.New("archive stream carries data after its end (the engine reported an error part-way)")
	}
	if !markerSeen {
		return errors.New("archive stream ended early (no end-of-archive marker)")
	}
	if !sawManifest {
		return errors.New("archive stream has no manifest.json")
	}
	return nil
}

// zeroTail forwards writes and remembers where the last non-zero byte was.
type zeroTail struct {
	w           io.Writer
	total       int64 // bytes written so far
	lastNonZero int64 // offset just past the last non-zero byte
}

func (z *zeroTail) Write(p []byte) (int, error) {
	n, err := z.w.Write(p)
	for i := n - 1; i >= 0; i-- {
		if p[i] != 0 {
			z.lastNonZero = z.total + int64(i) + 1
			break
		}
	}
	z.total += int64(n)
	return n, err
}
