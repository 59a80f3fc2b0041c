package layerstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/fresh"
)

// VerifyLayer checks that the stored layer file of diffID in compression c decompresses to a
// tar whose digest is diffID.
func (s *Store) VerifyLayer(diffID string, c Compression) error {
	return verifyFile(s.LayerPath(diffID, c), diffID, true)
}

// verifyFile checks that path holds content of digest want: decompressed first when layer is set
// (a layer's diffID is the digest of the uncompressed tar), as is otherwise (a config blob).
func verifyFile(path, want string, layer bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if layer {
		zr, err := Decompress(f)
		if err != nil {
			return fmt.Errorf("decompress: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), r); err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	if got := h.Digest().String(); got != want {
		return fmt.Errorf("its content is %s", got)
	}
	return nil
}

// verifiedPath records the signatures (size, times, inode) of the files VerifySet found intact.
func (s *Store) verifiedPath() string { return filepath.Join(s.Dir, "verified.json") }

// VerifySet checks every layer and config file of set against its digest before the bundle is
// made from them: a damaged file (a flipped byte, a truncation) must fail the build here, not
// the bundle at boot. A file whose signature is the one recorded when it last verified is not
// read again (the timestamps' fast path; any write changes the signature). A damaged file is
// removed, so the save stage exports its image again; the error names the file and its images.
func (s *Store) VerifySet(set Set) error {
	verified := map[string]fresh.Signature{}
	if data, err := os.ReadFile(s.verifiedPath()); err == nil {
		_ = json.Unmarshal(data, &verified) // unreadable: everything is verified again
	}
	images := map[string][]string{} // file → the images that use it
	type expect struct {
		digest string
		layer  bool
	}
	want := map[string]expect{} // file → its digest
	var files []string
	add := func(path, d, image string, layer bool) {
		if _, ok := want[path]; !ok {
			files = append(files, path)
			want[path] = expect{d, layer}
		}
		if !slices.Contains(images[path], image) {
			images[path] = append(images[path], image)
		}
	}
	for _, img := range set.Images {
		name := img.Name
		if name == "" {
			name = img.ID
		}
		add(s.ConfigPath(img.Config), img.Config, name, false)
		for _, d := range img.DiffIDs {
			add(s.LayerPath(d, set.Compression), d, name, true)
		}
	}
	next := map[string]fresh.Signature{}
	var problems []error
	for _, p := range files {
		info, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Errorf("layer store file %s of %s: %w", p, strings.Join(images[p], ", "), err))
			continue
		}
		rel, _ := filepath.Rel(s.Dir, p)
		sig := fresh.SignatureOf(info)
		if prev, ok := verified[rel]; ok && prev == sig {
			next[rel] = sig
			continue
		}
		if err := verifyFile(p, want[p].digest, want[p].layer); err != nil {
			removed := "it was removed from the store, so the save stage exports it again: run the build again"
			if rmErr := os.Remove(p); rmErr != nil {
				removed = fmt.Sprintf("remove it (%v) or run the save stage with FORCE=1", rmErr)
			}
			problems = append(problems, fmt.Errorf("layer store file %s of %s is damaged (want %s, %v); %s",
				p, strings.Join(images[p], ", "), want[p].digest, err, removed))
			continue
		}
		next[rel] = sig
	}
	if err := atomicfile.WriteJSON(s.verifiedPath(), next, 0o644); err != nil && len(problems) == 0 {
		return fmt.Errorf("record the verified layer store files: %w", err)
	}
	return errors.Join(problems...)
}
