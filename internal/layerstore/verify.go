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
	_, err := verifyFile(s.LayerPath(diffID, c), diffID, true)
	return err
}

// FileDigest is a stored file's own digest and size, as a registry serves it: for a compressed
// layer file that is the digest of the compressed bytes, not the diffID.
type FileDigest struct {
	Digest string `json:"digest"` // sha256:… of the file's bytes
	Size   int64  `json:"size"`
}

// verifyFile checks that path holds content of digest want: decompressed first when layer is set
// (a layer's diffID is the digest of the uncompressed tar), as is otherwise (a config blob). The
// same read gives the file's own digest and size, which it returns.
func verifyFile(path, want string, layer bool) (FileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileDigest{}, err
	}
	defer f.Close()
	own := digest.Canonical.Digester()
	var n countingWriter
	fileBytes := io.MultiWriter(own.Hash(), &n)
	var r io.Reader = io.TeeReader(f, fileBytes)
	if layer {
		zr, err := Decompress(r)
		if err != nil {
			return FileDigest{}, fmt.Errorf("decompress: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), r); err != nil {
		return FileDigest{}, fmt.Errorf("decompress: %w", err)
	}
	if got := h.Digest().String(); got != want {
		return FileDigest{}, fmt.Errorf("its content is %s", got)
	}
	// The decompressor may stop before the end of the file (trailing bytes after the last
	// frame): the file's digest covers every byte.
	if _, err := io.Copy(fileBytes, f); err != nil {
		return FileDigest{}, err
	}
	return FileDigest{Digest: own.Digest().String(), Size: int64(n)}, nil
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// verifiedPath records the signatures (size, times, inode) of the files VerifySet found intact,
// with each file's own digest.
func (s *Store) verifiedPath() string { return filepath.Join(s.Dir, "verified.json") }

// verifiedFile is one entry of verified.json: the file's signature when it last verified, and
// its own digest (absent in records of older stores: such a file is read once more).
type verifiedFile struct {
	fresh.Signature
	File string `json:"file,omitempty"`
}

// VerifySet checks every layer and config file of set against its digest before the bundle is
// made from them: a damaged file (a flipped byte, a truncation) must fail the build here, not
// the bundle at boot. A file whose signature is the one recorded when it last verified is not
// read again (the timestamps' fast path; any write changes the signature). A damaged file is
// removed, so the save stage exports its image again; the error names the file and its images.
func (s *Store) VerifySet(set Set) error {
	_, err := s.FileDigests(set)
	return err
}

// FileDigests verifies set as VerifySet does and returns the own digest and size of every file
// of it, by the digest of its content: the diffID for a layer file (in the set's compression),
// the config digest for a config. A registry serves the files under these digests. The digests
// come from the same read that verifies a file, and are recorded with its signature: an
// unchanged file is not read again.
func (s *Store) FileDigests(set Set) (map[string]FileDigest, error) {
	verified := map[string]verifiedFile{}
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
	next := map[string]verifiedFile{}
	digests := map[string]FileDigest{}
	var problems []error
	for _, p := range files {
		info, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Errorf("layer store file %s of %s: %w", p, strings.Join(images[p], ", "), err))
			continue
		}
		rel, _ := filepath.Rel(s.Dir, p)
		sig := fresh.SignatureOf(info)
		if prev, ok := verified[rel]; ok && prev.Signature == sig && prev.File != "" {
			next[rel] = prev
			digests[want[p].digest] = FileDigest{Digest: prev.File, Size: sig.Size}
			continue
		}
		own, err := verifyFile(p, want[p].digest, want[p].layer)
		if err != nil {
			removed := "it was removed from the store, so the save stage exports it again: run the build again"
			if rmErr := os.Remove(p); rmErr != nil {
				removed = fmt.Sprintf("remove it (%v) or run the save stage with FORCE=1", rmErr)
			}
			problems = append(problems, fmt.Errorf("layer store file %s of %s is damaged (want %s, %v); %s",
				p, strings.Join(images[p], ", "), want[p].digest, err, removed))
			continue
		}
		next[rel] = verifiedFile{Signature: sig, File: own.Digest}
		digests[want[p].digest] = own
	}
	if err := atomicfile.WriteJSON(s.verifiedPath(), next, 0o644); err != nil && len(problems) == 0 {
		return nil, fmt.Errorf("record the verified layer store files: %w", err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return digests, nil
}
