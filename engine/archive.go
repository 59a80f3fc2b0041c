package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ArchiveImages reads a `docker save` archive (plain, or gzip-compressed: detected from its
// first bytes) and returns, from its manifest.json, each image's layer paths keyed by repo tag.
// An image saved without a tag is keyed by its config path. The whole stream is read, since
// manifest.json may come after the layers.
func ArchiveImages(r io.Reader) (map[string][]string, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read image archive: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	tr := tar.NewReader(r)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image archive: %w", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("read image archive manifest.json: %w", err)
		}
		found = true
	}
	if !found {
		return nil, errors.New("read image archive: no manifest.json (not a `docker save` archive?)")
	}
	images := make(map[string][]string)
	for _, m := range manifest {
		keys := m.RepoTags
		if len(keys) == 0 {
			keys = []string{m.Config}
		}
		for _, k := range keys {
			images[k] = m.Layers
		}
	}
	return images, nil
}
