// Package bundlefile owns the bundle's transportable file (`mage export`): a `docker load`
// archive of the bundle image, compressed as a whole (gzip, zstd or none), with a `.sha256`
// next to it. Its first two entries describe it — dindbundler-export.txt (1024 bytes of
// key=value lines that a POSIX sh reads without a tar or JSON parser: dind/load.sh) and
// dindbundler-export.json (the full description) — and `docker load` ignores both.
//
// A differential file leaves out the bottom layers it shares with a previous bundle (the
// longest common chain): it loads only where that bundle is present, whose layers the engine
// then finds by their chain, as Zarf's differential packages rely on the resources of their
// reference package being deployed already. Its description names that bundle, so load.sh can
// refuse clearly before `docker load` would fail obscurely.
//
// The package reads and writes the format and plans names and commands; it never talks to
// Docker itself: the archive comes from a callback (engine.SaveEach bound to the bundle tag).
package bundlefile

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Format is the version of the file's description.
const Format = "dindbundler-export/1"

// Names of the describing entries, first in every file, and the fixed size of the first.
const (
	HeaderName = "dindbundler-export.txt"
	MetaName   = "dindbundler-export.json"
	HeaderSize = 1024
)

// Meta describes an exported file.
type Meta struct {
	Format      string                 `json:"format"`
	Bundle      string                 `json:"bundle"`      // the tag the file loads as
	Image       string                 `json:"image"`       // its image ID
	Layers      []string               `json:"layers"`      // its diffIDs, bottom first
	Compression layerstore.Compression `json:"compression"` // of the file as a whole
	// Requires is the bundle a differential file was made against; nil for a full file.
	Requires *Ref `json:"requires,omitempty"`
	// Omitted is how many bottom layers the file leaves out (they are Requires' layers).
	Omitted int `json:"omitted,omitempty"`
	// Run is the `docker run` line for the loaded bundle.
	Run string `json:"run,omitempty"`
}

// Ref names a bundle by tag and image ID, with its layers.
type Ref struct {
	Bundle string   `json:"bundle"`
	Image  string   `json:"image"`
	Layers []string `json:"layers"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// BaseName is the file name stem for a bundle tag: the last path element of the repository and
// the tag, "registry/team/my-bundle:1.2" → "my-bundle-1.2".
func BaseName(tag string) string {
	name := tag
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ReplaceAll(name, ":", "-")
	name = unsafeName.ReplaceAllString(name, "_")
	if name == "" {
		name = "bundle"
	}
	return name
}

// Path is where the export of tag goes: BUILD_DIR/<name>.tar[.gz|.zst]; a differential file
// against the image prev is BUILD_DIR/<name>.from-<12 hex of prev>.tar[…].
func Path(buildDir, tag string, c layerstore.Compression, prev string) string {
	name := BaseName(tag)
	if prev != "" {
		name += ".from-" + short(prev)
	}
	return builddir.Dir(buildDir).Export(name + c.Ext())
}

func short(id string) string {
	h := layerstore.Hex(id)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// LoadLine is the exact command that loads file on the target engine.
func LoadLine(file string, c layerstore.Compression) string {
	name := filepath.Base(file)
	if c == layerstore.Zstd {
		return "docker load -i " + name + "    # Engine 23.0 or later; older engines: zstd -dc " + name + " | docker load"
	}
	return "docker load -i " + name
}

// RunLine is the `docker run` line for a loaded bundle: privileged (the inner engine needs it),
// a named volume for the inner engine's data, and each port the stack publishes.
func RunLine(tag string, ports []string) string {
	parts := []string{"docker run -d --privileged", "-v " + BaseName(tag) + "-docker:/var/lib/docker"}
	for _, p := range ports {
		parts = append(parts, "-p "+p+":"+p)
	}
	return strings.Join(append(parts, tag), " ")
}

// Omit is how many bottom layers of current a target holding previous already has: the length
// of their common chain (a layer is found on the target only with every layer below it). A file
// with nothing to carry is an error: the bundle is the previous one. So is one with nothing to
// leave out: it would be as large as a full file yet load only where the previous bundle is (a
// wrong EXPORT_AGAINST — another stack, another base — is said, not hidden in a full-size file
// under a differential name).
func Omit(current, previous []string) (int, error) {
	n := 0
	for n < len(current) && n < len(previous) && current[n] == previous[n] {
		n++
	}
	if n == 0 {
		return 0, errors.New("the bundle shares no layer with the previous one (another base image or another stack?): a differential file would be full size and still need it on the target; export without EXPORT_AGAINST for a full file")
	}
	if n == len(current) {
		return 0, errors.New("the bundle has no layer the previous one lacks: there is nothing to export against it (the target already has this bundle, or export without EXPORT_AGAINST)")
	}
	return n, nil
}

// Header is dindbundler-export.txt: key=value lines padded with newlines to HeaderSize, so a
// shell reads it as bytes 512…1535 of the archive. The run line is left out when it does not fit.
func Header(m Meta) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "format=%s\nbundle=%s\nimage=%s\nlayers=%s\ncompression=%s\n", m.Format, m.Bundle, m.Image, LayersDigest(m.Layers), m.Compression)
	if m.Requires != nil {
		fmt.Fprintf(&b, "requires=%s\nrequires_bundle=%s\nomitted=%d\n", m.Requires.Image, m.Requires.Bundle, m.Omitted)
	}
	if m.Run != "" && b.Len()+len("run=\n")+len(m.Run) <= HeaderSize {
		fmt.Fprintf(&b, "run=%s\n", m.Run)
	}
	if b.Len() > HeaderSize {
		return nil, fmt.Errorf("export description of %s is %d bytes, more than %d: use a shorter BUNDLE_TAG", m.Bundle, b.Len(), HeaderSize)
	}
	return append(b.Bytes(), bytes.Repeat([]byte{'\n'}, HeaderSize-b.Len())...), nil
}

// LayersDigest identifies an image by its layers, the same whatever the engine's image store
// (the image ID is the config digest in the classic store, the manifest digest in containerd's):
// the hex sha256 of its diffIDs, one per line. load.sh computes it from `docker image inspect`.
func LayersDigest(diffIDs []string) string {
	h := sha256.New()
	for _, d := range diffIDs {
		io.WriteString(h, d+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ParseHeader reads dindbundler-export.txt.
func ParseHeader(data []byte) (map[string]string, error) {
	kv := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	if kv["format"] != Format {
		return nil, fmt.Errorf("not a dindbundler export (format %q, want %q)", kv["format"], Format)
	}
	return kv, nil
}

// ReadMeta reads the description at the start of an exported file, whatever its compression;
// it stops after the second entry.
func ReadMeta(path string) (Meta, error) {
	f, err := userfile.Open("export file", path)
	if err != nil {
		return Meta{}, fmt.Errorf("read export %s: %w", path, err)
	}
	defer f.Close()
	r, err := layerstore.Decompress(f)
	if err != nil {
		return Meta{}, fmt.Errorf("read export %s: %w", path, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	notOurs := fmt.Errorf("%s is not a file of mage export (no %s at its start): export the previous bundle with mage export, or give its tag", path, MetaName)
	for _, want := range []string{HeaderName, MetaName} {
		h, err := tr.Next()
		if err != nil || h.Name != want {
			return Meta{}, notOurs
		}
	}
	var m Meta
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
		return Meta{}, fmt.Errorf("read export %s: %s: %w", path, MetaName, err)
	}
	if m.Format != Format {
		return Meta{}, fmt.Errorf("read export %s: format %q, this version reads %q", path, m.Format, Format)
	}
	return m, nil
}

// Entries hands every entry of an exported file (or of any docker-save archive, compressed or
// not) to fn, the describing entries included.
func Entries(path string, fn func(*tar.Header, io.Reader) error) error {
	f, err := userfile.Open("export file", path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	r, err := layerstore.Decompress(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w (the file is damaged or incomplete: check it against its .sha256)", path, err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}
