package engine

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/client"
)

// SaveEach streams one uncompressed `docker save` archive of names and hands each entry to fn
// (header, and a reader of the entry's content) as it arrives, so callers can store the layers
// without ever holding the archive. The stream's completeness is checked after the last entry
// (walkArchive): only a nil result means fn saw a whole archive.
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

// Copy makes the image ref, present on from, available on to: nothing when to already has ref,
// else CopyImage. It reports whether it copied. This is how a local image (the DinD base)
// reaches another engine without a registry.
func Copy(ctx context.Context, from, to client.ImageAPIClient, ref string) (bool, error) {
	if _, found, err := Inspect(ctx, to, ref); err != nil || found {
		return false, err
	}
	return true, CopyImage(ctx, from, to, ref)
}

// CopyImage puts from's image ref on to, replacing what to calls ref: one `docker save` on from
// streamed into `docker load` on to, never held on disk or in memory (the engines' own HTTP
// connections pace it). The load stores only the layers to lacks, but every layer crosses.
func CopyImage(ctx context.Context, from, to client.ImageAPIClient, ref string) error {
	body, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("copy %s: save: %w", ref, err)
	}
	defer body.Close()
	if err := Load(ctx, to, body, nil); err != nil {
		return fmt.Errorf("copy %s: %w", ref, err)
	}
	if _, found, err := Inspect(ctx, to, ref); err != nil || !found {
		return fmt.Errorf("copy %s: the target engine has no %s after the load (%v)", ref, ref, err)
	}
	return nil
}
